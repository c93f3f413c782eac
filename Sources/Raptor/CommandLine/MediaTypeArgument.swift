import ArgumentParser

/// `--mime-type EXT=TYPE`: one extension (case-insensitive, a leading dot allowed) and the
/// media type files with it are sent as. What the extension and the type may be is
/// checked with the rest of the static-file options (`StaticFiles.Options.validate`).
struct MediaTypeArgument: Sendable, Equatable, ExpressibleByArgument {
    let fileExtension: String
    let type: String

    init(parsing text: String) throws {
        guard let equals = text.firstIndex(of: "=") else {
            throw ArgumentValueError(description: "expected EXT=TYPE, as in webp=image/webp")
        }
        var fileExtension = text[..<equals]
        if fileExtension.hasPrefix(".") { fileExtension = fileExtension.dropFirst() }
        self.fileExtension = fileExtension.lowercased()
        type = String(text[text.index(after: equals)...])
    }

    init?(argument: String) {
        try? self.init(parsing: argument)
    }
}
