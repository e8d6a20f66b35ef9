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
        <a href="/ui/dead-letters">Dead letters</a> <a href="/ui/rules">Rule files</a></nav>
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
        <h1>Overview</h1>
        <h2>Forwarder</h2>
        <dl class="facts">
        <dt>State</dt><dd>{{#paused}}<span class="bad">paused</span>{{/paused}}{{^paused}}running{{/paused}}
        {{#dryRunState}} (dry run: nothing is sent){{/dryRunState}}</dd>
        {{#lastError}}<dt>Last error</dt><dd class="bad">{{lastError}}</dd>{{/lastError}}
        <dt>Pending records</dt><dd>{{pending}} ({{inflight}} in flight)</dd>
        <dt>Oldest pending</dt><dd>{{oldestPending}}</dd>
        <dt>Dead letters</dt><dd><a href="/ui/dead-letters">{{dead}}</a></dd>
        </dl>
        <h2>Sources</h2>
        <p class="note">Accepted, ignored and rejected: stored deliveries of the last 24 hours. Refused: refusals kept in
        memory since start-up (the last {{refusalCapacity}}), of the last 24 hours. Duplicates: counted in memory
        since start-up ({{startedAt}}).</p>
        <div class="cards">
        {{#sources}}
        <section class="card">
        <h3><a href="/ui/deliveries?source={{name}}">{{name}}</a>
        {{#enabled}}<span class="ok">enabled</span>{{/enabled}}{{^enabled}}<span class="bad">disabled</span>{{/enabled}}</h3>
        {{#disabledReason}}<p class="bad">{{disabledReason}}</p>{{/disabledReason}}
        {{#unverified}}<p class="bad">accepts UNVERIFIED webhooks (verify: unverified)</p>{{/unverified}}
        <ul class="counts"><li><b>{{accepted}}</b> accepted</li><li><b>{{ignored}}</b> ignored</li>
        <li><b>{{rejected}}</b> rejected</li><li><b>{{refused}}</b> refused</li><li><b>{{duplicates}}</b> duplicate</li></ul>
        <p>Last delivery: {{lastDelivery}}</p>
        <svg class="chart" viewBox="0 0 240 60" role="img" aria-label="deliveries per hour, last 24 hours">
        <title>{{name}}: deliveries per hour, last 24 hours (peak {{peak}})</title>
        <line x1="0" y1="59.5" x2="240" y2="59.5" class="axis"/>
        {{#bars}}<rect x="{{x}}" y="{{y}}" width="8" height="{{height}}"><title>{{label}}</title></rect>{{/bars}}
        </svg>
        </section>
        {{/sources}}
        </div>
        {{> footer}}
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
        <button type="submit">Filter</button>
        </form>
        <div class="scroll"><table class="list">
        <tr><th>id</th><th>received (UTC)</th><th>source</th><th>outcome</th><th>answer</th><th>records</th></tr>
        {{#rows}}
        <tr><td><a href="/ui/deliveries/{{id}}">{{id}}</a></td><td>{{received}}</td><td>{{source}}</td>
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
        .chart rect { fill: #3b82f6; }
        .chart .axis { stroke: #888; stroke-width: 1; }
        .inline { display: inline; }
        form.login { display: flex; flex-direction: column; gap: .5rem; max-width: 20rem; }
        .filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; margin-bottom: 1rem; }
        input, select, button { font: inherit; padding: .3rem .6rem; }
        button.danger { color: var(--bad); }
        .sent { color: var(--ok); } .dead, .rejected { color: var(--bad); }
        @media (max-width: 40rem) { .facts { grid-template-columns: 1fr; } .facts dt { font-weight: bold; } }
        """

    /// Every page, with the header and footer partials.
    static func library() throws -> MustacheLibrary {
        var library = MustacheLibrary()
        for (name, text) in [
            ("header", header), ("footer", footer), ("login", login), ("message", message), ("overview", overview),
            ("deliveries", deliveries), ("delivery", delivery), ("dead-letters", deadLetters), ("rules", rules),
        ] {
            try library.register(text, named: name)
        }
        return library
    }
}
