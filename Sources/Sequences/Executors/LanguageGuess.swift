import Domain

/// Guesses the language a lead writes in from its messages: an agent with `language` `auto` answers
/// in it.
///
/// A deliberately small heuristic, good enough for choosing a reply language and needing no model:
/// 1. **Script.** Letters are counted by Unicode script. Kana means Japanese (even among kanji), Hangul
///    Korean, Han Chinese, Thai Thai, Devanagari Hindi, Hebrew Hebrew, Greek Greek, Arabic script Arabic;
///    Cyrillic is Russian unless it holds letters only Ukrainian uses (і, ї, є, ґ). The script with most
///    letters wins when it has at least a third of them.
/// 2. **Stop words** for Latin script: each message's words are matched against short lists of the
///    most frequent function words of English, Spanish, Portuguese, French, German, Italian and Turkish
///    (folded: lowercase, without accents), plus a few letters only one of them uses (ñ ¿ ¡ → Spanish,
///    ã õ → Portuguese, ß → German, ğ ş ı → Turkish). The language with the most hits wins; ties and
///    texts with no hit give no guess.
///
/// Recent messages weigh as much as old ones; with no guess, the agent's reply is written without a
/// language instruction and scripts are not filtered by language.
package enum LanguageGuess {
    /// The language tag (`en`, `es`, `pt`, `ru`, …) the texts are most likely written in, or `nil`.
    package static func detect(_ texts: [String]) -> String? {
        let text = texts.joined(separator: "\n")
        guard !TextFold.isBlank(text) else { return nil }
        if let script = byScript(text) { return script }
        return byWords(text)
    }

    // MARK: Scripts

    static func byScript(_ text: String) -> String? {
        var counts: [String: Int] = [:]
        var letters = 0
        var ukrainian = false
        for scalar in text.unicodeScalars where scalar.properties.isAlphabetic {
            letters += 1
            let value = scalar.value
            let script: String?
            switch value {
            case 0x3040...0x30FF, 0x31F0...0x31FF: script = "ja"
            case 0xAC00...0xD7AF, 0x1100...0x11FF, 0x3130...0x318F: script = "ko"
            case 0x4E00...0x9FFF, 0x3400...0x4DBF: script = "zh"
            case 0x0E00...0x0E7F: script = "th"
            case 0x0900...0x097F: script = "hi"
            case 0x0590...0x05FF: script = "he"
            case 0x0370...0x03FF: script = "el"
            case 0x0600...0x06FF, 0x0750...0x077F: script = "ar"
            case 0x0400...0x04FF:
                if [0x0456, 0x0457, 0x0454, 0x0491, 0x0406, 0x0407, 0x0404, 0x0490].contains(value) { ukrainian = true }
                script = "ru"
            default: script = nil
            }
            if let script { counts[script, default: 0] += 1 }
        }
        guard letters > 0 else { return nil }
        // Japanese mixes kanji with kana: any kana makes the Han letters Japanese too.
        if let kana = counts["ja"], kana > 0, let han = counts.removeValue(forKey: "zh") { counts["ja"] = kana + han }
        guard let (script, count) = counts.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }),
              count * 3 >= letters
        else { return nil }
        return script == "ru" && ukrainian ? "uk" : script
    }

    // MARK: Stop words

    /// Frequent function words, folded (lowercase, no accents). Words shared by several languages
    /// (`a`, `de`, `e`, `la`, `no`, …) count for each of them.
    static let stopWords: [String: Set<String>] = [
        "en": ["the", "and", "is", "are", "you", "i", "to", "of", "it", "what", "how", "this", "that", "for", "with", "have",
               "can", "do", "my", "your", "please", "thanks", "thank", "hello", "hi", "yes", "want", "price", "when", "will", "not"],
        "es": ["el", "la", "los", "las", "que", "de", "y", "es", "en", "un", "una", "por", "para", "con", "hola", "gracias",
               "como", "cuanto", "cuesta", "quiero", "tiene", "usted", "esta", "pero", "si", "muy", "precio", "donde", "cuando", "no"],
        "pt": ["o", "os", "as", "que", "de", "e", "do", "da", "em", "um", "uma", "para", "com", "nao", "ola", "obrigado",
               "obrigada", "voce", "quanto", "custa", "quero", "tem", "esta", "mas", "sim", "muito", "preco", "onde", "quando"],
        "fr": ["le", "la", "les", "et", "est", "un", "une", "des", "du", "je", "vous", "pour", "avec", "bonjour", "merci",
               "combien", "coute", "veux", "oui", "non", "pas", "mais", "tres", "prix", "quand", "ou", "suis", "c'est"],
        "de": ["der", "die", "das", "und", "ist", "ich", "sie", "nicht", "ein", "eine", "mit", "fur", "hallo", "danke", "bitte",
               "wie", "viel", "kostet", "ja", "nein", "aber", "sehr", "preis", "wann", "wo", "haben", "moechte", "mochte"],
        "it": ["il", "lo", "gli", "e", "che", "di", "un", "una", "per", "con", "ciao", "grazie", "quanto", "costa", "voglio",
               "si", "non", "ma", "molto", "prezzo", "quando", "dove", "sono", "buongiorno"],
        "tr": ["ve", "bir", "bu", "icin", "ne", "kadar", "merhaba", "tesekkurler", "tesekkur", "evet", "hayir", "fiyat",
               "nedir", "var", "yok", "cok", "ben", "siz", "nasil"],
    ]

    /// Letters only one of the Latin-script languages uses, each worth a few words.
    static let markers: [(Character, String)] = [
        ("ñ", "es"), ("¿", "es"), ("¡", "es"), ("ã", "pt"), ("õ", "pt"), ("ß", "de"), ("ğ", "tr"), ("ş", "tr"), ("ı", "tr"),
    ]

    static func byWords(_ text: String) -> String? {
        var scores: [String: Int] = [:]
        let lowered = text.lowercased()
        for (marker, language) in markers where lowered.contains(marker) { scores[language, default: 0] += 3 }
        let words = TextFold.fold(text).split(whereSeparator: { !($0.isLetter || $0 == "'") }).map(String.init)
        for word in words {
            for (language, list) in stopWords where list.contains(word) { scores[language, default: 0] += 1 }
        }
        let ranked = scores.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        guard let best = ranked.first, best.value > 0 else { return nil }
        if ranked.count > 1, ranked[1].value == best.value { return nil }
        return best.key
    }

    // MARK: Names

    /// The English name of a language tag's primary language, for the AI prompt (`pt-BR` → Portuguese
    /// (pt-BR)); the tag itself for one this list does not name.
    package static func name(of tag: String) -> String {
        let names = ["en": "English", "es": "Spanish", "pt": "Portuguese", "fr": "French", "de": "German", "it": "Italian",
                     "tr": "Turkish", "ru": "Russian", "uk": "Ukrainian", "ar": "Arabic", "he": "Hebrew", "el": "Greek",
                     "hi": "Hindi", "th": "Thai", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "pl": "Polish", "nl": "Dutch"]
        let primary = primaryTag(tag)
        guard let name = names[primary] else { return tag }
        return primary == tag.lowercased() ? name : "\(name) (\(tag))"
    }

    /// `pt-BR` → `pt`.
    package static func primaryTag(_ tag: String) -> String {
        String(tag.split(separator: "-").first ?? "").lowercased()
    }
}
