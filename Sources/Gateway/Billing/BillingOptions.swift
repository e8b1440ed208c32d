import ArgumentParser
import Foundation
import ServiceKit

/// The billing settings of the gateway (flags and environment variables). Without a Stripe base URL,
/// secret key and webhook secret billing is off and every tenant is unlimited.
package struct BillingOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("stripe-base-url"), help: "Stripe's API, e.g. https://api.stripe.com (env STRIPE_BASE_URL). Unset: billing off.")
    package var stripeBaseURL: String?

    @Option(name: .customLong("stripe-secret-key"), help: "Stripe secret key sk_… (env STRIPE_SECRET_KEY).")
    package var stripeSecretKey: String?

    @Option(name: .customLong("stripe-webhook-secret"), help: "Signing secret(s) whsec_… of the Stripe webhook endpoint, comma-separated during a rotation (env STRIPE_WEBHOOK_SECRET).")
    package var stripeWebhookSecret: String?

    @Option(name: .customLong("billing-plans"), help: "The plans file, e.g. config/plans.json (env BILLING_PLANS); needed when billing is on.")
    package var plansFile: String?

    @Option(name: .customLong("billing-return-url"), help: "Where Checkout and the Billing Portal send the user back (env BILLING_RETURN_URL; default <public base URL>/admin/#/billing).")
    package var returnURL: String?

    @Option(name: .customLong("billing-push-interval-ms"), help: "How often usage is pushed to Stripe's Billing Meters (env BILLING_PUSH_INTERVAL_MS; default 30000).")
    package var pushIntervalMilliseconds: Int?

    @Option(name: .customLong("billing-alert-interval-ms"), help: "How often every tenant's monthly use is checked for the 80 % and 100 % alerts (env BILLING_ALERT_INTERVAL_MS; default 60000).")
    package var alertIntervalMilliseconds: Int?

    package init() {}

    package func configuration(publicBaseURL: String, environment: [String: String]) throws -> BillingConfiguration {
        let base = stripeBaseURL ?? Env.string("STRIPE_BASE_URL", in: environment)
        let key = stripeSecretKey ?? Env.string("STRIPE_SECRET_KEY", in: environment)
        let secret = stripeWebhookSecret ?? Env.string("STRIPE_WEBHOOK_SECRET", in: environment)
        let plans = plansFile ?? Env.string("BILLING_PLANS", in: environment)
        let returnURL = self.returnURL ?? Env.string("BILLING_RETURN_URL", in: environment)
            ?? publicBaseURL.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/admin/#/billing"
        let given = [("--stripe-base-url (STRIPE_BASE_URL)", base), ("--stripe-secret-key (STRIPE_SECRET_KEY)", key),
                     ("--stripe-webhook-secret (STRIPE_WEBHOOK_SECRET)", secret)]
        if given.allSatisfy({ $0.1 == nil }) {
            if plans != nil { throw ConfigurationError("--billing-plans (BILLING_PLANS) is set but billing is off: set the three Stripe settings too") }
            return .off
        }
        if let missing = given.first(where: { $0.1 == nil }) {
            throw ConfigurationError("billing needs all three Stripe settings; \(missing.0) is missing")
        }
        guard let plans else { throw ConfigurationError("billing is on: --billing-plans (BILLING_PLANS) must name the plans file") }
        let interval = try pushIntervalMilliseconds ?? Env.integer("BILLING_PUSH_INTERVAL_MS", in: environment) ?? 30_000
        guard (50...3_600_000).contains(interval) else { throw ConfigurationError("--billing-push-interval-ms (BILLING_PUSH_INTERVAL_MS) must be 50…3600000") }
        var configuration = try BillingConfiguration(stripeBaseURL: base!, secretKey: key!, webhookSecrets: secret!,
                                                     catalog: PlanCatalog.load(path: plans), returnURL: returnURL)
        configuration.meterPushInterval = .milliseconds(interval)
        let alerts = try alertIntervalMilliseconds ?? Env.integer("BILLING_ALERT_INTERVAL_MS", in: environment) ?? 60_000
        guard (50...3_600_000).contains(alerts) else { throw ConfigurationError("--billing-alert-interval-ms (BILLING_ALERT_INTERVAL_MS) must be 50…3600000") }
        configuration.alertInterval = .milliseconds(alerts)
        return configuration
    }
}

/// The resolved billing settings.
package struct BillingConfiguration: Sendable {
    package struct Stripe: Sendable {
        package var baseURL: String
        package var secretKey: String
        /// Every signing secret a webhook may be signed with (more than one while a secret is rolled).
        package var webhookSecrets: [String]
    }

    /// `nil`: billing is off.
    package var stripe: Stripe?
    package var catalog: PlanCatalog
    package var returnURL: String
    /// How far a Stripe-Signature timestamp may be from now.
    package var signatureTolerance: Duration = .seconds(300)
    /// How often the usage ledger is pushed to Stripe's Billing Meters.
    package var meterPushInterval: Duration = .seconds(30)
    /// How often every tenant's monthly use is checked for alerts (``AllowanceWatch``).
    package var alertInterval: Duration = .seconds(60)

    package var enabled: Bool { stripe != nil }

    package static let off = BillingConfiguration(stripe: nil, catalog: .unlimited, returnURL: "")

    package init(stripe: Stripe?, catalog: PlanCatalog, returnURL: String) {
        self.stripe = stripe
        self.catalog = catalog
        self.returnURL = returnURL
    }

    /// Billing on, with its settings checked.
    package init(stripeBaseURL: String, secretKey: String, webhookSecrets: String, catalog: PlanCatalog, returnURL: String) throws {
        guard let url = URL(string: stripeBaseURL), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw ConfigurationError("--stripe-base-url (STRIPE_BASE_URL) must be an http(s) URL, e.g. https://api.stripe.com")
        }
        guard secretKey.hasPrefix("sk_") || secretKey.hasPrefix("rk_"), secretKey.count >= 8 else {
            throw ConfigurationError("--stripe-secret-key (STRIPE_SECRET_KEY) must be a Stripe secret key (sk_… or rk_…)")
        }
        let secrets = webhookSecrets.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !secrets.isEmpty, secrets.allSatisfy({ $0.hasPrefix("whsec_") && $0.count >= 12 }) else {
            throw ConfigurationError("--stripe-webhook-secret (STRIPE_WEBHOOK_SECRET) must be one or more whsec_… secrets, comma-separated")
        }
        guard catalog.plans.contains(where: { $0.stripePriceID != nil }) else {
            throw ConfigurationError("--billing-plans (BILLING_PLANS): billing is on but no plan has a stripe_price_id to subscribe to")
        }
        self.init(stripe: Stripe(baseURL: stripeBaseURL.trimmingCharacters(in: CharacterSet(charactersIn: "/")), secretKey: secretKey,
                                 webhookSecrets: secrets),
                  catalog: catalog, returnURL: returnURL)
    }
}

extension BillingConfiguration: CustomStringConvertible {
    /// Without its secrets.
    package var description: String {
        guard let stripe else { return "billing off" }
        return "billing on (Stripe \(stripe.baseURL), \(catalog.plans.count) plans, \(stripe.webhookSecrets.count) webhook secrets)"
    }
}
