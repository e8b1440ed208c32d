import Foundation

/// How a client's question becomes a full-text query, and how well a chunk covers it.
///
/// A question is rarely written in the document's words, so every significant word counts on its own
/// (OR) and bm25 ranks the chunks that hold the rarer ones, and more of them, first. Words are folded
/// (lowercase, accents removed) like the index's `unicode61 remove_diacritics 2` tokenizer, the words
/// every question has ("do", "you", "qué", "para") are dropped, and a long word is matched by its first
/// letters ("delivery" finds "deliver", "entregas" finds "entrega") — a stemmer for none of our
/// languages in particular, which serves English, Spanish and Portuguese alike.
package enum KnowledgeQuery {
    /// Most words of one query.
    package static let maximumTerms = 16

    /// The significant folded words of `text`, each once, in order.
    package static func terms(_ text: String) -> [String] {
        var seen: Set<String> = []
        var terms: [String] = []
        for word in words(text) where !stopWords.contains(word) {
            guard word.count >= 3 || word.allSatisfy(\.isNumber) else { continue }
            if seen.insert(word).inserted { terms.append(word) }
            if terms.count == maximumTerms { break }
        }
        return terms
    }

    /// The folded words of `text` joined by single spaces: what whole-word phrase matching compares.
    package static func folded(words text: String) -> String { words(text).joined(separator: " ") }

    /// Folded words of `text` (letters and digits).
    static func words(_ text: String) -> [String] {
        TextFold.fold(text).split { !$0.isLetter && !$0.isNumber }.map(String.init)
    }

    /// The prefix a term is matched by: long words lose their last letters, where languages inflect.
    package static func stem(_ term: String) -> String {
        switch term.count {
        case 7...: String(term.prefix(term.count - 2))
        case 5...6: String(term.prefix(term.count - 1))
        default: term
        }
    }

    /// An FTS5 expression matching a chunk with any of `terms` (by prefix); `nil` without terms. Terms are
    /// quoted, so FTS5's operators in a client's message stay words.
    package static func matchExpression(_ terms: [String]) -> String? {
        guard !terms.isEmpty else { return nil }
        return terms.map { "\"\(stem($0).replacingOccurrences(of: "\"", with: ""))\"*" }.joined(separator: " OR ")
    }

    /// The share (0…1) of `terms` that `text` holds, each matched by its stem as a word prefix.
    package static func coverage(of terms: [String], in text: String) -> Double {
        guard !terms.isEmpty else { return 0 }
        let present = words(text)
        let matched = terms.filter { term in
            let stem = stem(term)
            return present.contains { $0.hasPrefix(stem) }
        }
        return Double(matched.count) / Double(terms.count)
    }

    /// The sentences of `text` that hold any of `terms`, in order, at most `limit` characters together
    /// (at least the first of them); the whole text when none does. What a reply quotes from a chunk.
    package static func answeringSentences(of text: String, terms: [String], limit: Int = 600) -> String {
        var sentences: [String] = []
        var current = ""
        for character in text {
            current.append(character)
            if ".!?\n".contains(character) {
                sentences.append(current)
                current = ""
            }
        }
        sentences.append(current)
        let trimmed = sentences.map { String(TextFold.trim($0)) }.filter { !$0.isEmpty }
        var chosen: [String] = []
        var length = 0
        for sentence in trimmed where coverage(of: terms, in: sentence) > 0 {
            if !chosen.isEmpty, length + 1 + sentence.count > limit { break }
            chosen.append(sentence)
            length += sentence.count + 1
        }
        return chosen.isEmpty ? String(TextFold.trim(text)) : chosen.joined(separator: " ")
    }

    /// Words that carry no subject in English, Spanish or Portuguese questions and greetings.
    static let stopWords: Set<String> = [
        // English
        "the", "and", "for", "are", "you", "your", "can", "does", "did", "have", "has", "had", "was", "were", "will", "would",
        "could", "should", "what", "when", "where", "which", "who", "how", "why", "this", "that", "these", "those", "with",
        "from", "about", "into", "there", "here", "any", "some", "all", "our", "ours", "they", "them", "their", "its", "not",
        "but", "also", "just", "please", "thanks", "thank", "hello", "hey", "yes", "want", "need", "like", "know", "tell",
        "get", "much", "many", "more", "very", "too", "than", "then", "been", "being", "is", "am", "an", "a", "to", "of",
        "in", "on", "at", "by", "or", "if", "it", "me", "my", "we", "us", "do", "be", "so", "no", "hi",
        // Spanish
        "que", "los", "las", "del", "por", "para", "con", "una", "uno", "unos", "unas", "como", "cual", "cuales", "cuando",
        "donde", "quien", "esta", "este", "esto", "estos", "estas", "eso", "ese", "esa", "son", "hay", "tienen", "tiene",
        "puedo", "puede", "pueden", "hacen", "hace", "mas", "muy", "sus", "nos", "les", "ustedes", "usted", "hola",
        "gracias", "buenas", "buenos", "dias", "tardes", "noches", "quiero", "quisiera", "saber", "seria", "ser", "estar",
        "tambien", "pero", "sin", "sobre", "entre", "hasta", "desde", "todo", "todos", "algo", "alguna", "alguno",
        // Portuguese
        "voces", "voce", "vcs", "nao", "sim", "uma", "umas", "uns", "dos", "das", "nos", "nas", "pelo", "pela", "qual",
        "quais", "quando", "onde", "quem", "isso", "isto", "essa", "esse", "aqui", "tem", "tenho", "posso", "pode",
        "podem", "fazem", "faz", "mais", "muito", "seu", "sua", "seus", "suas", "ola", "oi", "obrigado", "obrigada",
        "bom", "boa", "dia", "tarde", "noite", "queria", "gostaria", "tambem", "mas", "sem", "ate", "com", "como",
    ]
}
