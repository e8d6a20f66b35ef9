import BridgeCore
import BridgeVerification
import Foundation
import Yams

/// Loads rule files strictly: every unknown key, bad path, bad template and wrong type is a `Diagnostic`
/// with the file, line and column, and all of them are collected before the load fails.
public struct RuleLoader: Sendable {
    /// Values for `${NAME}` references.
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The result of loading a directory or a file.
    public struct Result: Sendable {
        /// The sources to run: all of them, or none when any file has an error.
        public var sources: [SourceDefinition]
        /// Every source whose own file loaded without errors (for `check`, which reports on all of them).
        public var loadedSources: [SourceDefinition] = []
        public var diagnostics: [Diagnostic]
        public var files: [String]
    }

    /// Rule files under `path`: the `.yaml`/`.yml` files of a directory (not its subfolders, not hidden
    /// entries, which keeps Kubernetes' `..data` links out), or `path` itself when it is a file.
    public static func ruleFiles(at path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LoaderError(.pathNotFound, path: path)
        }
        guard isDirectory.boolValue else { return [path] }
        let names = try FileManager.default.contentsOfDirectory(atPath: path)
        let base = path.hasSuffix("/") ? String(path.dropLast()) : path
        return names.filter { !$0.hasPrefix(".") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }.sorted().map {
            "\(base)/\($0)"
        }
    }

    /// Loads every rule file under `path`.
    public func load(path: String) -> Result {
        let files: [String]
        do {
            files = try RuleLoader.ruleFiles(at: path)
        } catch {
            return Result(
                sources: [],
                diagnostics: [Diagnostic(file: path, line: 1, column: 1, severity: .error, message: "\(error)")],
                files: [])
        }
        var sources: [SourceDefinition] = []
        var diagnostics: [Diagnostic] = []
        var seen: [String: String] = [:]
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                diagnostics.append(
                    Diagnostic(file: file, line: 1, column: 1, severity: .error, message: "cannot read the file"))
                continue
            }
            let (source, diags) = load(file: file, text: String(decoding: data, as: UTF8.self))
            diagnostics += diags
            if let source {
                if let other = seen[source.name] {
                    diagnostics.append(
                        Diagnostic(
                            file: file, line: 1, column: 1, severity: .error,
                            message: "source '\(source.name)' is already defined in \(other)"))
                } else {
                    seen[source.name] = file
                    sources.append(source)
                }
            }
        }
        if files.isEmpty {
            diagnostics.append(
                Diagnostic(file: path, line: 1, column: 1, severity: .warning, message: "no rule files (*.yaml) found"))
        }
        return Result(
            sources: diagnostics.hasErrors ? [] : sources, loadedSources: sources, diagnostics: diagnostics.sorted,
            files: files)
    }

    /// Loads one rule file's text. The source is nil when there are errors.
    public func load(file: String, text: String) -> (SourceDefinition?, [Diagnostic]) {
        var reader = RuleFileReader(file: file, environment: environment)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            reader.yamlError(error)
            return (nil, reader.diagnostics)
        } catch {
            reader.diagnostics.append(Diagnostic(file: file, line: 1, column: 1, severity: .error, message: "\(error)"))
            return (nil, reader.diagnostics)
        }
        guard let root else {
            reader.error(nil, "the file is empty; a rule file needs at least 'source' and 'verify'")
            return (nil, reader.diagnostics)
        }
        var source = reader.sourceDefinition(root)
        source?.teamNames = reader.teamNames
        return (reader.diagnostics.hasErrors ? nil : source, reader.diagnostics.sorted)
    }
}
