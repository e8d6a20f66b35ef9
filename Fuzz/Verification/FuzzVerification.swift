import BridgeCore
import BridgeVerification
import Foundation

/// Input layout: byte 0 picks the preset, byte 1 holds flags, then a header block, an empty line and the body.
/// Header lines are `Name: value`; a few pseudo-headers set the rest of the request:
/// `:query` (a raw query string), `:client` (the client address), `:allow` (a CIDR for allowed networks, repeatable),
/// `:secret` (one more configured secret), `:method` and `:path`.
/// Flags: 1 adds the headers the `Signer` produces for the body (so the success path is reached too), 2 puts those
/// before the fuzzed headers (which then lose to them), 4 signs with the `:secret` instead of the matching test
/// secret.
private let now = Date(timeIntervalSince1970: 1_714_572_300)
private let presets = VerificationPreset.all
private let testSecrets = presets.map { Signer.testSecrets(for: $0.scheme) }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVerification(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let index = Int(bytes[0]) % presets.count
    let flags = bytes[1]
    let preset = presets[index]
    let rest = Array(bytes[2...])
    let split = rest.firstRange(of: [0x0a, 0x0a])
    let headerText = String(decoding: split.map { rest[..<$0.lowerBound] } ?? rest[...], as: UTF8.self)
    let body = split.map { Array(rest[$0.upperBound...]) } ?? []

    var headers = HeaderBag()
    var query = ""
    var client: String?
    var networks: [CIDR] = []
    var extraSecret: Secret?
    var method = "POST"
    var path: String?
    for line in headerText.split(separator: "\n", omittingEmptySubsequences: true) {
        guard let colon = line.dropFirst().firstIndex(of: ":") else { continue }
        let name = String(line[..<colon])
        let value = String(line[line.index(after: colon)...].drop { $0 == " " })
        switch name {
        case ":query": query = value
        case ":client": client = value
        case ":allow": if let cidr = CIDR(value) { networks.append(cidr) }
        case ":secret": extraSecret = Secret(value)
        case ":method": method = value
        case ":path": path = value
        default: headers.add(name, value)
        }
    }

    let (signing, verifying) = testSecrets[index]
    if flags & 1 != 0 {
        let secret = flags & 4 != 0 ? (extraSecret ?? signing) : signing
        if let signed = try? Signer(scheme: preset.scheme, secret: secret).headers(
            for: body, existing: headers, now: now)
        {
            var all = HeaderBag(signed)
            if flags & 2 != 0 {
                for field in headers { all.add(field.name, field.value) }
                headers = all
            } else {
                for field in signed { headers.add(field.name, field.value) }
            }
        }
    }
    let request = IncomingRequest(
        source: preset.name, method: method, path: path, query: IncomingRequest.parseQuery(query), headers: headers,
        body: body, clientAddress: client, receivedAt: now)
    let secrets = [verifying] + (extraSecret.map { [$0] } ?? [])
    let verifier = SignatureVerifier(scheme: preset.scheme, secrets: secrets, allowedNetworks: networks)
    do {
        try verifier.verify(request, now: now)
    } catch {
        _ = "\(error)"
    }
    if let id = preset.deliveryIdHeader { _ = request.headers[id] }
    return 0
}
