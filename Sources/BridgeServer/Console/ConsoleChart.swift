import Foundation

/// A stacked bar chart of the last hours as values for the `chart` template: inline SVG drawn on the server.
///
/// Readable without colour: each series has its own fill pattern (defined once per page by the `chartPatterns`
/// partial) as well as its colour, a legend names them in words, and every bar segment has a `<title>`. For screen
/// readers the SVG is an image labelled by its `<title>` and a `<desc>` that states the totals, and a table below
/// it (in a `<details>`) gives the numbers hour by hour.
struct ConsoleChart {
    struct Series {
        /// The CSS class (and pattern) of the series: `accepted`, `ignored`, `rejected`, `refused`, `duplicate`,
        /// `sent`, `pending`, `dead`.
        var key: String
        /// Its name in words, plural: "accepted", "dead letters".
        var label: String
        var values: [Int]
    }

    static let width = 480.0
    static let plotTop = 14.0
    static let plotBottom = 100.0
    static let height = 118.0

    /// The template's values: `id` (unique on the page), `title`, `desc`, `bars`, `ticks`, `legend`, `rows`.
    static func values(id: String, title: String, series: [Series], now: Date) -> [String: Any] {
        let hours = series.first?.values.count ?? 24
        let totals = (0..<hours).map { h in series.reduce(0) { $0 + ($1.values.indices.contains(h) ? $1.values[h] : 0) }
        }
        let peak = max(1, totals.max() ?? 0)
        let slot = width / Double(hours)
        let barWidth = max(1, slot - 4)
        let scale = (plotBottom - plotTop) / Double(peak)
        func start(_ h: Int) -> Date { now.addingTimeInterval(-Double(hours - h) * 3600) }
        func hourText(_ h: Int) -> String {
            let f = ConsoleFormat.hour
            return "\(f(start(h)))–\(f(start(h + 1)))"
        }
        let hourTexts = (0..<hours).map(hourText)
        var bars: [[String: Any]] = []
        for h in 0..<hours where totals[h] > 0 {
            var y = plotBottom
            var segments: [[String: Any]] = []
            for s in series {
                let n = s.values.indices.contains(h) ? s.values[h] : 0
                guard n > 0 else { continue }
                let height = max(1, Double(n) * scale)
                y -= height
                segments.append([
                    "key": s.key, "x": format(Double(h) * slot + 2), "y": format(y), "width": format(barWidth),
                    "height": format(height), "label": "\(hourTexts[h]) UTC: \(n) \(s.label)",
                ])
            }
            bars.append(["segments": segments])
        }
        // Labels every 6 hours: how long ago, and "now" at the right edge.
        var ticks: [[String: Any]] = []
        for h in stride(from: 0, through: hours, by: max(1, hours / 4)) {
            let ago = hours - h
            ticks.append([
                "x": format(Double(h) * slot), "text": ago == 0 ? "now" : "−\(ago) h",
                "anchor": h == 0 ? "start" : h == hours ? "end" : "middle",
            ])
        }
        let sums = series.map { s in "\(s.values.reduce(0, +)) \(s.label)" }
        let desc =
            "Last \(hours) hours, one bar per hour, stacked: \(sums.joined(separator: ", ")). "
            + (totals.allSatisfy { $0 == 0 }
                ? "Nothing in this time."
                : "Busiest hour: \(hourText(totals.firstIndex(of: totals.max() ?? 0) ?? 0)) UTC with \(totals.max() ?? 0).")
        let rows: [[String: Any]] = (0..<hours).reversed().compactMap { h in
            guard totals[h] > 0 else { return nil }
            return [
                "hour": hourTexts[h],
                "cells": series.map { s -> [String: Any] in ["n": s.values.indices.contains(h) ? s.values[h] : 0] },
            ]
        }
        return [
            "id": id, "title": title, "desc": desc, "bars": bars, "ticks": ticks, "peak": totals.max() ?? 0,
            "legend": series.map { ["key": $0.key, "label": $0.label] },
            "columns": series.map { ["label": $0.label] }, "rows": rows, "hasRows": !rows.isEmpty,
            "viewBox": "0 0 \(Int(width)) \(Int(height))", "baseline": format(plotBottom + 0.5),
            "width": format(width), "tickY": format(height - 3), "peakY": format(plotTop - 3),
        ]
    }

    /// One decimal (`12.5`), without `String(format:)`, which is slow enough to matter in a chart's thousand numbers.
    static func format(_ x: Double) -> String {
        let tenths = Int((x * 10).rounded())
        let sign = tenths < 0 ? "-" : ""
        return "\(sign)\(abs(tenths) / 10).\(abs(tenths) % 10)"
    }
}
