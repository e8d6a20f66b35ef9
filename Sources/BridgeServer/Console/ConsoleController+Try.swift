import BridgeCore
import BridgeMapping
import BridgeStore
import BridgeVerification
import Foundation
import Hummingbird

/// `/ui/try`: what `cloudthread-bridge try` shows for a pasted (or stored) request, through the same `TryReport`;
/// nothing is stored or sent. A body over the size limit or not JSON gets the webhook path's error.
extension ConsoleController {
    /// The form: a stored delivery's headers and body when `?delivery=<id>` names one.
    func tryForm(_ request: Request, _ session: SignedIn) async throws -> Response {
        var form = TryForm()
        var notice: String?
        if let id = request.uri.queryParameters.get("delivery", as: Int64.self) {
            if let detail = try await store.deliveryDetail(id: id), let stored = detail.request {
                form.source = detail.summary.source
                form.headers = stored.headers.map { "\($0[0]): \($0[1])" }.joined(separator: "\n")
                form.body = String(decoding: stored.body, as: UTF8.self)
                form.delivery = String(id)
                if stored.truncated {
                    notice = "Only the first \(stored.body.count) bytes of this delivery's body were kept."
                }
            } else {
                notice = "Delivery \(id) is not stored, or its request was not kept."
            }
        } else if let source = request.uri.queryParameters.get("source") {
            form.source = source
        }
        return tryPage(session, form: form, notice: notice, result: nil)
    }

    /// The answer to the form: the report, or the webhook path's error for the body.
    func tryRun(_ session: SignedIn, _ fields: [String: String]) -> Response {
        let form = TryForm(
            source: fields["source"] ?? "", headers: fields["headers"] ?? "", body: fields["body"] ?? "",
            path: fields["path"] ?? "", delivery: fields["delivery"] ?? "")
        guard let definition = rules.snapshot.sources[form.source] else {
            var response = tryPage(
                session, form: form, notice: nil, result: ["error": "Choose one of the sources listed."])
            response.status = .badRequest
            return response
        }
        var bag = HeaderBag()
        for (n, line) in form.headers.split(whereSeparator: \.isNewline).enumerated() {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            guard let colon = text.firstIndex(of: ":") else {
                var response = tryPage(
                    session, form: form, notice: nil,
                    result: ["error": "Header line \(n + 1) must look like “Name: value”."])
                response.status = .badRequest
                return response
            }
            bag.add(
                String(text[..<colon]).trimmingCharacters(in: .whitespaces),
                String(text[text.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        if bag["Content-Type"] == nil { bag.add("Content-Type", "application/json") }
        let body = Array(form.body.utf8)
        // The webhook path's answers: 413 over the size limit, 400 for a body that is not JSON.
        if body.count > maxBodyBytes {
            var response = tryPage(
                session, form: form, notice: nil,
                result: ["error": "body larger than \(maxBodyBytes) bytes", "status": 413])
            response.status = .contentTooLarge
            return response
        }
        let incoming = IncomingRequest(source: form.source, headers: bag, body: body)
        let subpath = form.path.trimmingCharacters(in: CharacterSet(charactersIn: "/ "))
        let result: MappingResult
        do {
            result = try mapper.map(incoming, source: definition, subpath: subpath)
        } catch {
            let text = (error as? MappingError)?.description ?? "the body cannot be mapped"
            var response = tryPage(session, form: form, notice: nil, result: ["error": text, "status": 400])
            response.status = .badRequest
            return response
        }
        let matched = result.explanation.rules.filter(\.matched).map(\.rule)
        let outcome: String
        if !result.records.isEmpty {
            outcome = "accepted (202)"
        } else if !result.explanation.rejected.isEmpty {
            outcome = "rejected (422)"
        } else {
            outcome = "ignored (202)"
        }
        let report: [String: Any] = [
            "outcome": outcome, "matched": matched.map { ["rule": $0] }, "noMatch": matched.isEmpty,
            "report": TryReport(mapper: mapper).render(incoming, source: definition, subpath: subpath),
        ]
        return tryPage(session, form: form, notice: nil, result: report)
    }

    struct TryForm {
        var source = ""
        var headers = ""
        var body = ""
        var path = ""
        var delivery = ""
    }

    func tryPage(_ session: SignedIn, form: TryForm, notice: String?, result: [String: Any]?) -> Response {
        let all = rules.snapshot.sources.values.sorted { a, b in
            let (ea, eb) = (a.disabledReason == nil && a.verifier != nil, b.disabledReason == nil && b.verifier != nil)
            return ea != eb ? ea : a.name < b.name
        }
        var values: [String: Any] = [
            "sourceOptions": all.map { s -> [String: Any] in
                let enabled = s.disabledReason == nil && s.verifier != nil
                return ["value": s.name, "selected": s.name == form.source, "disabled": !enabled]
            },
            "headers": form.headers, "body": form.body, "path": form.path, "delivery": form.delivery,
            "maxBodyBytes": maxBodyBytes,
        ]
        if let result { values["result"] = result }
        return page("try", title: "Try a payload", signedIn: session, notice: notice, values)
    }
}
