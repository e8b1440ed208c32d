import Basics
import Crypto
import Foundation
import GRDB
import ServiceKit

/// Why an OAuth state was refused.
package enum OAuthStateRefusal: String, Error, Sendable {
    /// Not one we issued (bad format or signature).
    case invalid = "state_invalid"
    /// Issued, but its time is up.
    case expired = "state_expired"
    /// Issued and already used (a replayed callback).
    case used = "state_used"
}

extension GatewayStore {
    /// The key signing OAuth states, created on first use.
    private func stateKey() async throws -> SymmetricKey {
        let data = try await db.write { db -> Data in
            if let data = try Data.fetchOne(db, sql: "SELECT value FROM gateway_key WHERE name = 'kommo_oauth_state'") {
                return data
            }
            let data = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
            try db.execute(sql: "INSERT INTO gateway_key (name, value) VALUES ('kommo_oauth_state', ?)", arguments: [data])
            return data
        }
        return SymmetricKey(data: data)
    }

    private static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func signature(_ payload: String, key: SymmetricKey) -> String {
        base64URL(Data(HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: key)))
    }

    /// How long after its expiry a state is remembered (a used one answers "used" until then).
    private static let tombstoneMicros: Int64 = 86_400 * 1_000_000

    /// A new state naming `tenantID`, valid until `expiresAt` (unix microseconds) and for one callback:
    /// `<tenant>.<nonce>.<expiry>.<HMAC-SHA256 of the rest>`. Expired states are swept.
    package func issueOAuthState(tenantID: String, now: Int64, expiresAt: Int64) async throws -> String {
        let key = try await stateKey()
        let nonce = RandomID.make("", hexDigits: 32)
        try await db.write { db in
            try db.execute(sql: "DELETE FROM kommo_oauth_state WHERE expires_at < ?", arguments: [now - Self.tombstoneMicros])
            try db.execute(sql: "INSERT INTO kommo_oauth_state (nonce, tenant_id, expires_at, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [nonce, tenantID, expiresAt, now])
        }
        let payload = "\(tenantID).\(nonce).\(expiresAt / 1_000_000)"
        return payload + "." + Self.signature(payload, key: key)
    }

    /// The tenant a state names, once: its signature must verify, its time must not be up, and it must
    /// not have been used. A used state stays as a tombstone until a day after its expiry, so a replayed
    /// callback reads "used" whenever it comes; an expired one is removed.
    package func consumeOAuthState(_ state: String, now: Int64) async throws -> Result<String, OAuthStateRefusal> {
        let parts = state.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard state.utf8.count <= 512, parts.count == 4, let expiry = Int64(parts[2]) else { return .failure(.invalid) }
        let payload = parts[0...2].joined(separator: ".")
        guard constantTimeEquals(Self.signature(payload, key: try await stateKey()), parts[3]) else { return .failure(.invalid) }
        let (tenantID, nonce) = (parts[0], parts[1])
        return try await db.write { db -> Result<String, OAuthStateRefusal> in
            let row = try Row.fetchOne(db, sql: "SELECT expires_at, used_at FROM kommo_oauth_state WHERE nonce = ? AND tenant_id = ?",
                                       arguments: [nonce, tenantID])
            guard let row else {
                // Signed by us but not on record: swept after its expiry (or a tombstone swept a day later).
                return .failure(expiry * 1_000_000 < now ? .expired : .used)
            }
            if (row["used_at"] as Int64?) != nil { return .failure(.used) }
            let expiresAt: Int64 = row["expires_at"]
            if expiresAt < now {
                try db.execute(sql: "DELETE FROM kommo_oauth_state WHERE nonce = ?", arguments: [nonce])
                return .failure(.expired)
            }
            try db.execute(sql: "UPDATE kommo_oauth_state SET used_at = ? WHERE nonce = ?", arguments: [now, nonce])
            return .success(tenantID)
        }
    }
}
