import Mustache

/// The console's pages as Mustache templates. `{{name}}` escapes HTML (`<`, `>`, `&`, `"`, `'`); no template uses
/// the unescaped forms, so every value from a webhook, a rule file or the API is shown as text.
enum ConsoleTemplates {
    static let header = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · cloudthread-bridge</title>
        <link rel="stylesheet" href="/ui/static/console.css"></head>
        <body>
        <header><strong>cloudthread-bridge</strong>
        {{#signedIn}}
        <nav><a href="/ui/">Overview</a> <a href="/ui/deliveries">Deliveries</a>
        <a href="/ui/dead-letters">Dead letters</a> <a href="/ui/timeline">Timeline</a> <a href="/ui/try">Try</a>
        <a href="/ui/rules">Rule files</a></nav>
        <form method="post" action="/ui/logout" class="inline"><input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit">Sign out</button></form>
        {{/signedIn}}
        </header>
        {{#dryRun}}<p class="banner">DRY RUN: no API key is set; nothing is sent to Cloudthread.</p>{{/dryRun}}
        {{#notice}}<p class="notice">{{notice}}</p>{{/notice}}
        <main>
        """

    static let footer = """
        </main></body></html>
        """

    static let login = """
        {{> header}}
        <h1>Sign in</h1>
        {{#error}}<p class="error">{{error}}</p>{{/error}}
        <form method="post" action="/ui/login" class="login">
        <label for="token">Admin token</label>
        <input type="password" id="token" name="token" autocomplete="current-password" required autofocus>
        <button type="submit">Sign in</button>
        </form>
        {{> footer}}
        """

    static let message = """
        {{> header}}
        <h1>{{title}}</h1>
        <p class="error">{{error}}</p>
        <p><a href="{{back}}">{{backText}}</a></p>
        {{> footer}}
        """

    static let overview = """
        {{> header}}
        {{> chartPatterns}}
        <h1>Overview</h1>
        <h2>Sources</h2>
        <p class="note">Accepted, ignored and rejected: stored deliveries of the last 24 hours. Refused: refusals kept in
        memory since start-up (the last {{refusalCapacity}}), of the last 24 hours. Duplicates: counted in memory
        since start-up ({{startedAt}}).</p>
        {{^configured}}<p>No source is configured yet: set one of the variables listed below and restart the bridge.</p>{{/configured}}
        <div class="cards">
        {{#configured}}
        <section class="card source" id="source-{{name}}">
        <h3><a href="/ui/deliveries?source={{name}}">{{name}}</a> <span class="ok">enabled</span></h3>
        {{#unverified}}<p class="bad">accepts UNVERIFIED webhooks (verify: unverified)</p>{{/unverified}}
        <ul class="counts"><li><b>{{accepted}}</b> accepted</li><li><b>{{ignored}}</b> ignored</li>
        <li><b>{{rejected}}</b> rejected</li><li><b>{{refused}}</b> refused</li><li><b>{{duplicates}}</b> duplicate</li></ul>
        <p>Last delivery: {{lastDelivery}}</p>
        {{#chart}}{{> chart}}{{/chart}}
        </section>
        {{/configured}}
        </div>
        {{#hasDisabled}}<p class="disabled-list"><strong>Not configured, so disabled ({{disabledCount}}):</strong>
        {{#disabled}}<span class="disabled-source">{{name}} ({{reason}}){{^last}};{{/last}}</span> {{/disabled}}</p>{{/hasDisabled}}
        <p>What reached Cloudthread's cost chart, and when: the <a href="/ui/timeline">timeline</a>.</p>
        <h2>Forwarder</h2>
        <dl class="facts">
        <dt>State</dt><dd>{{#paused}}<span class="bad">paused</span>{{/paused}}{{^paused}}running{{/paused}}
        {{#dryRunState}} (dry run: nothing is sent){{/dryRunState}}</dd>
        {{#lastError}}<dt>Last error</dt><dd class="bad">{{lastError}}</dd>{{/lastError}}
        <dt>Pending records</dt><dd>{{pending}} ({{inflight}} in flight)</dd>
        <dt>Oldest pending</dt><dd>{{oldestPending}}</dd>
        <dt>Dead letters</dt><dd><a href="/ui/dead-letters">{{dead}}</a></dd>
        </dl>
        <p class="note">Sent and dead letters: by the hour they were marked. Pending: records still waiting (or in flight),
        by the hour they were created; older ones count in the first hour.</p>
        {{#forwarderChart}}{{> chart}}{{/forwarderChart}}
        {{> footer}}
        """

    /// A stacked bar chart (`ConsoleChart`): an SVG image named by its title and description, a legend in words, the
    /// numbers in a table.
    static let chart = """
        <figure class="chart-figure">
        <svg class="chart" viewBox="{{viewBox}}" role="img" aria-labelledby="{{id}}-title {{id}}-desc">
        <title id="{{id}}-title">{{title}}</title>
        <desc id="{{id}}-desc">{{desc}}</desc>
        <line x1="0" y1="{{baseline}}" x2="{{width}}" y2="{{baseline}}" class="axis"/>
        <text x="0" y="{{peakY}}" class="tick">peak: {{peak}} in an hour</text>
        {{#bars}}<g>{{#segments}}<rect class="{{key}}" x="{{x}}" y="{{y}}" width="{{width}}" height="{{height}}"><title>{{label}}</title></rect>{{/segments}}</g>{{/bars}}
        {{#ticks}}<text x="{{x}}" y="{{tickY}}" class="tick {{anchor}}">{{text}}</text>{{/ticks}}
        </svg>
        <figcaption><ul class="legend">{{#legend}}<li><svg class="swatch" viewBox="0 0 12 12" aria-hidden="true" focusable="false"><rect class="{{key}}" width="12" height="12"/></svg> {{label}}</li>{{/legend}}</ul></figcaption>
        <details><summary>{{title}}: the numbers</summary>
        {{#hasRows}}<div class="scroll"><table class="list"><tr><th scope="col">hour (UTC)</th>{{#columns}}<th scope="col">{{label}}</th>{{/columns}}</tr>
        {{#rows}}<tr><th scope="row">{{hour}}</th>{{#cells}}<td>{{n}}</td>{{/cells}}</tr>{{/rows}}
        </table></div>{{/hasRows}}{{^rows}}<p>Nothing in these hours.</p>{{/rows}}
        </details>
        </figure>
        """

    /// The fill patterns of the charts' series, once per page: a series is told by its pattern as well as its colour.
    static let chartPatterns = """
        <svg class="patterns" aria-hidden="true" focusable="false" width="0" height="0"><defs>
        <pattern id="pat-stripes" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
        <rect width="6" height="6" class="pat-ignored"/><line x1="0" y1="0" x2="0" y2="6" class="pat-line"/></pattern>
        <pattern id="pat-cross" width="6" height="6" patternUnits="userSpaceOnUse">
        <rect width="6" height="6" class="pat-rejected"/><path d="M0 0L6 6M6 0L0 6" class="pat-line"/></pattern>
        <pattern id="pat-dots" width="5" height="5" patternUnits="userSpaceOnUse">
        <rect width="5" height="5" class="pat-refused"/><circle cx="2.5" cy="2.5" r="1.2" class="pat-dot"/></pattern>
        <pattern id="pat-rows" width="5" height="5" patternUnits="userSpaceOnUse">
        <rect width="5" height="5" class="pat-duplicate"/><line x1="0" y1="2.5" x2="5" y2="2.5" class="pat-line"/></pattern>
        <pattern id="pat-pending" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
        <rect width="6" height="6" class="pat-pending"/><line x1="0" y1="0" x2="0" y2="6" class="pat-line"/></pattern>
        </defs></svg>
        """

    static let deliveries = """
        {{> header}}
        <h1>Deliveries</h1>
        <form method="get" action="/ui/deliveries" class="filters">
        <label>Source <select name="source"><option value="">all</option>
        {{#sourceOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/sourceOptions}}
        </select></label>
        <label>Outcome <select name="status"><option value="">all</option>
        {{#statusOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/statusOptions}}
        </select></label>
        <label>Origin <select name="origin"><option value="">all</option>
        {{#originOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/originOptions}}
        </select></label>
        <button type="submit">Filter</button>
        </form>
        <div class="scroll"><table class="list">
        <tr><th>id</th><th>received (UTC)</th><th>source</th><th>outcome</th><th>answer</th><th>records</th></tr>
        {{#rows}}
        <tr><td><a href="/ui/deliveries/{{id}}">{{id}}</a></td><td>{{received}}</td><td>{{source}}{{#backfill}} (backfill){{/backfill}}</td>
        <td class="{{status}}">{{status}}</td><td>{{httpStatus}}</td><td>{{events}} events, {{metrics}} metrics</td></tr>
        {{/rows}}
        </table></div>
        {{^rows}}<p>No deliveries{{#filtered}} match this filter{{/filtered}}.</p>{{/rows}}
        {{#older}}<p><a href="{{older}}">Older deliveries →</a></p>{{/older}}
        {{> footer}}
        """

    static let delivery = """
        {{> header}}
        <h1>Delivery {{id}}</h1>
        <p><a href="/ui/try?delivery={{id}}">Try again</a>: this delivery's request through the rules in force now.</p>
        <dl class="facts">
        <dt>Received</dt><dd>{{received}}</dd>
        <dt>Source</dt><dd>{{source}}</dd>
        <dt>Client address</dt><dd>{{clientAddress}}</dd>
        <dt>Outcome</dt><dd>{{status}}, answered {{httpStatus}}</dd>
        {{#deliveryKey}}<dt>Delivery key</dt><dd>{{deliveryKey}}</dd>{{/deliveryKey}}
        </dl>
        <h2>Headers</h2>
        {{#noRequest}}<p class="note">Not kept: this delivery was stored before the bridge kept requests.</p>{{/noRequest}}
        <div class="scroll"><table class="list">
        {{#headers}}<tr><th>{{name}}</th><td class="{{#masked}}masked{{/masked}}">{{value}}</td></tr>{{/headers}}
        </table></div>
        <h2>Body</h2>
        {{#truncated}}<p class="note">Only the first {{kept}} bytes of {{size}} are kept.</p>{{/truncated}}
        {{#bodyLost}}<p class="note">The body ({{size}} bytes) is no longer on disk: its day's file was removed, or its
        end was lost when the machine stopped. The delivery and its records do not depend on it.</p>{{/bodyLost}}
        <pre class="body">{{body}}</pre>
        <h2>Explanation</h2>
        {{^rules}}<p>No rule was evaluated.</p>{{/rules}}
        {{#rules}}
        <section class="rule"><h3>{{rule}}: {{#matched}}<span class="ok">matched</span> ({{events}} events, {{metrics}} metrics{{#items}}, {{items}} items{{/items}}){{/matched}}{{^matched}}<span class="bad">did not match</span>{{/matched}}</h3>
        <ul>{{#checks}}<li class="{{#passed}}ok{{/passed}}{{^passed}}bad{{/passed}}"><code>{{path}}</code> {{expectation}}: saw <code>{{seen}}</code>, {{#passed}}passed{{/passed}}{{^passed}}failed{{/passed}}</li>{{/checks}}</ul>
        </section>
        {{/rules}}
        {{#rejected}}<p class="bad">Rejected output of {{rule}}: {{reason}}</p>{{/rejected}}
        {{#notes}}<p class="note">{{.}}</p>{{/notes}}
        <h2>Records</h2>
        {{^records}}<p>None.</p>{{/records}}
        <div class="scroll"><table class="list">
        {{#records}}<tr><td>{{kind}} #{{id}}</td><td class="{{state}}">{{stateText}}</td><td>{{attempts}} attempts</td>
        <td>{{#lastError}}{{lastError}}{{/lastError}}</td></tr>
        <tr><td colspan="4"><code>{{record}}</code></td></tr>{{/records}}
        </table></div>
        {{> footer}}
        """

    static let deadLetters = """
        {{> header}}
        <h1>Dead letters</h1>
        {{^letters}}<p>No dead letters.</p>{{/letters}}
        {{#letters}}
        <section class="card">
        <h3>{{kind}} #{{id}}{{#deliveryId}} from <a href="/ui/deliveries/{{deliveryId}}">delivery {{deliveryId}}</a>{{/deliveryId}}</h3>
        <p class="bad">{{reason}}</p>
        <p>{{attempts}} attempts, last {{updated}}</p>
        <pre class="body">{{record}}</pre>
        <form method="post" action="/ui/dead-letters/{{id}}/retry" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Retry</button></form>
        <form method="post" action="/ui/dead-letters/{{id}}/discard" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger">Discard</button></form>
        </section>
        {{/letters}}
        {{> footer}}
        """

    static let tryPage = """
        {{> header}}
        <h1>Try a payload</h1>
        <p>What <code>cloudthread-bridge try</code> shows for a request: which rule matched and why, and the exact requests
        that would go to Cloudthread. Nothing is stored or sent, and the signature is not checked.</p>
        {{#result}}
        <section class="result" id="result" aria-labelledby="result-title">
        <h2 id="result-title">Result</h2>
        {{#error}}<p class="error">Refused{{#status}} ({{status}}){{/status}}: {{error}}</p>{{/error}}
        {{#outcome}}<p>Outcome: <strong>{{outcome}}</strong></p>
        {{#noMatch}}<p>No rule matched.</p>{{/noMatch}}
        <ul class="matched">{{#matched}}<li>Matched rule <code>{{rule}}</code></li>{{/matched}}</ul>
        <h3>What <code>try</code> prints</h3>
        <pre class="body report">{{report}}</pre>
        {{/outcome}}
        </section>
        {{/result}}
        <form method="post" action="/ui/try" class="try">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="delivery" value="{{delivery}}">
        <label for="try-source">Source</label>
        <select id="try-source" name="source" required>
        {{#sourceOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}{{#disabled}} (disabled){{/disabled}}</option>{{/sourceOptions}}
        </select>
        <label for="try-path">Path after <code>/hooks/&lt;source&gt;/</code> (optional)</label>
        <input id="try-path" name="path" value="{{path}}">
        <label for="try-headers">Headers, one “Name: value” a line</label>
        <textarea id="try-headers" name="headers" rows="5">{{headers}}</textarea>
        <label for="try-body">Body (JSON, at most {{maxBodyBytes}} bytes)</label>
        <textarea id="try-body" name="body" rows="8" required>{{body}}</textarea>
        <button type="submit">Try it</button>
        </form>
        <p class="note">Or try a stored delivery again: the <strong>Try again</strong> link on a delivery's page fills this
        form with its headers and body.</p>
        {{> footer}}
        """

    static let timeline = """
        {{> header}}
        {{> chartPatterns}}
        <h1>Timeline</h1>
        <p>What the bridge sent to Cloudthread's cost chart (or, in dry run, would send), by the time of each event.</p>
        <nav class="ranges" aria-label="Time range"><ul>{{#ranges}}<li>{{#current}}<strong aria-current="page">{{label}}</strong>{{/current}}{{^current}}<a href="{{href}}">{{label}}</a>{{/current}}</li>{{/ranges}}</ul></nav>
        {{#costNote}}<p class="note">{{costNote}}</p>{{/costNote}}
        {{#limited}}<p class="note">Only the {{limit}} records of this range that changed last are shown.</p>{{/limited}}
        {{#chart}}
        <figure class="chart-figure">
        <svg class="timeline" viewBox="{{viewBox}}" role="img" aria-labelledby="timeline-title timeline-desc">
        <title id="timeline-title">Events of the last {{rangeLabel}}{{#view}}, over the daily cost of Cost View {{view}}{{/view}}</title>
        <desc id="timeline-desc">{{desc}}</desc>
        {{#lanes}}<g class="lane"><text x="4" y="{{textY}}" class="lane-name">{{name}}</text>
        <line x1="{{left}}" y1="{{y}}" x2="{{right}}" y2="{{y}}" class="lane-line"/>
        {{#marks}}{{#windows}}<rect class="window {{kind}}" x="{{x}}" y="{{y}}" width="{{width}}" height="14"><title>{{label}}</title></rect>{{/windows}}<circle cx="{{x}}" cy="{{y}}" r="5" class="mark {{state}}{{#outside}} outside{{/outside}}"><title>{{label}}</title></circle>{{/marks}}
        </g>{{/lanes}}
        {{#cost}}<g class="cost"><text x="4" y="{{labelY}}" class="lane-name">daily cost</text>
        <text x="4" y="{{peakY}}" class="tick">up to {{peak}}</text>
        <text x="4" y="{{baseY}}" class="tick">$0</text>
        <polyline points="{{points}}" class="cost-line"/>
        {{#dots}}<circle cx="{{x}}" cy="{{y}}" r="2.5" class="cost-dot"><title>{{label}}</title></circle>{{/dots}}</g>{{/cost}}
        <line x1="{{left}}" y1="{{axisY}}" x2="{{right}}" y2="{{axisY}}" class="axis"/>
        {{#ticks}}<text x="{{x}}" y="{{tickY}}" class="tick {{anchor}}">{{text}}</text>{{/ticks}}
        </svg>
        <figcaption><ul class="legend"><li><svg class="swatch" viewBox="0 0 12 12" aria-hidden="true" focusable="false"><circle cx="6" cy="6" r="5" class="mark sent"/></svg> sent</li>
        <li><svg class="swatch" viewBox="0 0 12 12" aria-hidden="true" focusable="false"><circle cx="6" cy="6" r="5" class="mark pending"/></svg> pending (hollow)</li>
        <li><svg class="swatch" viewBox="0 0 12 12" aria-hidden="true" focusable="false"><circle cx="6" cy="6" r="5" class="mark dead"/></svg> dead letter (crossed)</li>
        <li><svg class="swatch" viewBox="0 0 12 12" aria-hidden="true" focusable="false"><rect width="12" height="12" class="window before"/></svg> before window</li>
        <li><svg class="swatch" viewBox="0 0 12 12" aria-hidden="true" focusable="false"><rect width="12" height="12" class="window after"/></svg> after window</li>
        {{#cost}}<li><svg class="swatch" viewBox="0 0 12 12" aria-hidden="true" focusable="false"><line x1="0" y1="6" x2="12" y2="6" class="cost-line"/></svg> daily cost</li>{{/cost}}</ul></figcaption>
        </figure>
        {{/chart}}
        {{^lanes}}<p>Nothing was sent in the last {{rangeLabel}}.</p>{{/lanes}}
        {{#lanes}}
        <section class="lane-list">
        <h2>{{lane}} ({{count}})</h2>
        <ul class="events">
        {{#marks}}<li><span class="when">{{at}}</span>: {{description}} <span class="note">({{state}}; rule <code>{{rule}}</code>{{#outside}}; received in this range, its own time is outside it{{/outside}})</span>
        {{#windows}}<br>Before window {{before}}, after window {{after}}; compared at {{due}}.{{/windows}}
        {{#url}}<br><a href="{{url}}" rel="noreferrer noopener">{{url}}</a>{{/url}}
        {{#deliveryId}} <a href="/ui/deliveries/{{deliveryId}}">delivery {{deliveryId}}</a>{{/deliveryId}}</li>{{/marks}}
        </ul>
        </section>
        {{/lanes}}
        {{#hasCost}}<details><summary>Daily cost of Cost View {{view}}</summary>
        <table class="list"><tr><th scope="col">day (UTC)</th><th scope="col">cost</th></tr>
        {{#costRows}}<tr><th scope="row">{{day}}</th><td>{{value}}</td></tr>{{/costRows}}</table></details>{{/hasCost}}
        {{> footer}}
        """

    static let rules = """
        {{> header}}
        <h1>Rule files</h1>
        <p>Loaded {{loadedAt}}.</p>
        <h2>Last reload</h2>
        {{^attempt}}<p>No reload since start-up.</p>{{/attempt}}
        {{#attempt}}
        <p>{{at}} ({{reason}}): {{#applied}}<span class="ok">applied</span>{{/applied}}{{^applied}}<span class="bad">refused; the rules in force stayed</span>{{/applied}}</p>
        <ul class="diagnostics">{{#diagnostics}}<li class="{{severity}}"><code>{{text}}</code></li>{{/diagnostics}}</ul>
        {{/attempt}}
        <h2>Files</h2>
        {{#files}}
        <section class="card"><h3>{{file}}</h3>
        {{#sources}}<p>Source <strong>{{name}}</strong>{{#preset}} (preset {{preset}}){{/preset}}:
        {{#enabled}}<span class="ok">enabled</span>{{/enabled}}{{^enabled}}<span class="bad">disabled: {{disabledReason}}</span>{{/enabled}}</p>
        <ul>{{#rules}}<li><code>{{name}}</code> (line {{line}}): {{events}} events, {{metrics}} metrics</li>{{/rules}}</ul>{{/sources}}
        </section>
        {{/files}}
        {{> footer}}
        """

    static let css = """
        :root { color-scheme: light dark; --ok: #1a7f37; --bad: #c62828; --muted: #666; }
        * { box-sizing: border-box; }
        body { font: 15px/1.45 system-ui, sans-serif; margin: 0; }
        header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem;
          border-bottom: 1px solid #8884; }
        nav a { margin-right: .8rem; }
        main { padding: 0 1rem 2rem; max-width: 72rem; }
        .banner { background: #fff3c4; color: #5c4400; margin: 0; padding: .5rem 1rem; }
        .notice { background: #e3f2fd; color: #0d3c61; margin: 0; padding: .5rem 1rem; }
        .error, .bad { color: var(--bad); }
        .ok { color: var(--ok); }
        .note { color: var(--muted); font-size: .9em; }
        .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(18rem, 1fr)); gap: 1rem; }
        .card { border: 1px solid #8884; border-radius: 6px; padding: .2rem .9rem .8rem; margin-bottom: 1rem; }
        .facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
        .facts dd { margin: 0; overflow-wrap: anywhere; }
        table { border-collapse: collapse; }
        .list td, .list th { padding: .25rem .6rem; border-bottom: 1px solid #8883;
          text-align: left; vertical-align: top; overflow-wrap: anywhere; }
        ul.counts { display: flex; flex-wrap: wrap; gap: .3rem 1rem; list-style: none; padding: 0; }
        .scroll { overflow-x: auto; }
        .masked { color: var(--muted); }
        pre.body { white-space: pre-wrap; overflow-wrap: anywhere; background: #8881; padding: .6rem;
          max-height: 40rem; overflow: auto; }
        .chart { width: 100%; max-width: 30rem; height: auto; }
        .chart .axis { stroke: #888; stroke-width: 1; }
        .chart .tick { fill: currentColor; font-size: 14px; }
        .chart .tick.middle { text-anchor: middle; } .chart .tick.end { text-anchor: end; }
        .patterns { position: absolute; width: 0; height: 0; overflow: hidden; }
        .pat-line { stroke: #fff; stroke-width: 1.6; } .pat-dot { fill: #fff; }
        rect.accepted, rect.sent { fill: #2e7d32; }
        rect.ignored { fill: url(#pat-stripes); } .pat-ignored { fill: #757575; }
        rect.rejected, rect.dead { fill: url(#pat-cross); } .pat-rejected { fill: #c62828; }
        rect.refused { fill: url(#pat-dots); } .pat-refused { fill: #6a1b9a; }
        rect.duplicate { fill: url(#pat-rows); } .pat-duplicate { fill: #1565c0; }
        rect.pending { fill: url(#pat-pending); } .pat-pending { fill: #b26a00; }
        .chart-figure { margin: .5rem 0; }
        ul.legend { display: flex; flex-wrap: wrap; gap: .2rem 1rem; list-style: none; padding: 0; margin: .2rem 0;
          font-size: .9em; }
        .swatch { width: 12px; height: 12px; vertical-align: -1px; }
        .disabled-list { color: var(--muted); font-size: .9em; }
        .disabled-source { white-space: nowrap; }
        .inline { display: inline; }
        form.login { display: flex; flex-direction: column; gap: .5rem; max-width: 20rem; }
        .filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; margin-bottom: 1rem; }
        input, select, button { font: inherit; padding: .3rem .6rem; }
        button.danger { color: var(--bad); }
        .sent { color: var(--ok); } .dead, .rejected { color: var(--bad); }
        form.try { display: flex; flex-direction: column; gap: .4rem; max-width: 48rem; }
        form.try textarea { font: 13px/1.4 ui-monospace, monospace; width: 100%; }
        form.try button { align-self: flex-start; }
        .result { border-top: 1px solid #8884; margin-top: 1rem; }
        .ranges ul { display: flex; gap: 1rem; list-style: none; padding: 0; }
        .timeline { width: 100%; max-width: 60rem; height: auto; }
        .timeline .lane-name, .timeline .tick { fill: currentColor; font-size: 11px; }
        .timeline .tick.middle { text-anchor: middle; } .timeline .tick.end { text-anchor: end; }
        .timeline .lane-line { stroke: #8886; stroke-width: 1; }
        .timeline .axis { stroke: #888; stroke-width: 1; }
        .mark { stroke: #1b5e20; stroke-width: 2; fill: #2e7d32; }
        .mark.pending, .mark.inflight { fill: none; stroke: #b26a00; }
        .mark.dead { fill: url(#pat-cross); stroke: #c62828; }
        .mark.outside { stroke-dasharray: 2 2; }
        .window { stroke-width: 1; }
        .window.before { fill: #7575754d; stroke: #757575; }
        .window.after { fill: url(#pat-stripes); stroke: #424242; opacity: .6; }
        .cost-line { fill: none; stroke: #1565c0; stroke-width: 2; }
        .cost-dot { fill: #1565c0; }
        ul.events { padding-left: 1.2rem; } ul.events li { margin-bottom: .4rem; }
        .when { font-variant-numeric: tabular-nums; }
        @media (max-width: 40rem) { .facts { grid-template-columns: 1fr; } .facts dt { font-weight: bold; } }
        """

    /// Every page, with the header and footer partials.
    static func library() throws -> MustacheLibrary {
        var library = MustacheLibrary()
        for (name, text) in [
            ("header", header), ("footer", footer), ("login", login), ("message", message), ("overview", overview),
            ("chart", chart), ("chartPatterns", chartPatterns),
            ("deliveries", deliveries), ("delivery", delivery), ("dead-letters", deadLetters), ("rules", rules),
            ("try", tryPage), ("timeline", timeline),
        ] {
            try library.register(text, named: name)
        }
        return library
    }
}
