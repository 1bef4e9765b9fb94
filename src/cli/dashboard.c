/* `aerie dashboard`: a single-page fleet view over HTTP (see dashboard.h).
 *
 * libmicrohttpd runs one internal polling thread, so requests are handled one at a time on
 * that thread and share one hub connection (ae_cli) without locks. The JSON endpoints call
 * the collectors of `status` and `twin` and the replay walk of `replay` (cmd_twin.c,
 * cmd_replay.c), so the page and the CLI cannot disagree. The page itself is static HTML
 * and JavaScript embedded below: it polls /api/status every 2 s and, for the selected
 * vehicle, its twin and a short replay drawn as sparklines (battery, altitude, ground track).
 *
 * A hub connection that libnats gave up on (the hub was down longer than its reconnect
 * budget) is replaced on the next request, so the dashboard outlives hub restarts. */
#include "cli/dashboard.h"
#include "cli/cmd_replay.h"
#include "cli/cmd_twin.h"
#include "cli/fleet_metrics.h"
#include "common/ident.h"
#include "common/prom.h"
#include "common/timeutil.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char page_html[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>Aerie fleet</title>\n"
    "<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f6f8;color:#1d2329}\n"
    "header{background:#1d2a3a;color:#fff;padding:10px 18px;display:flex;gap:18px;"
    "align-items:baseline}\n"
    "header h1{font-size:18px;margin:0}header span{opacity:.8}\n"
    "main{display:flex;gap:16px;padding:16px;flex-wrap:wrap}\n"
    "section{background:#fff;border-radius:6px;box-shadow:0 1px 3px #0002;padding:12px}\n"
    "#fleet{flex:2 1 640px}#detail{flex:1 1 380px;min-width:340px}\n"
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;"
    "border-bottom:1px solid #e3e7eb;white-space:nowrap}\n"
    "th{font-weight:600;font-size:12px;color:#5b6670;text-transform:uppercase}\n"
    "tbody tr{cursor:pointer}tbody tr:hover{background:#eef4fb}tr.sel{background:#dcebfa}\n"
    ".on{color:#0a7d32;font-weight:600}.off{color:#b3261e;font-weight:600}\n"
    ".live{font-size:11px;background:#fff1c2;border-radius:3px;padding:0 4px;margin-left:4px}\n"
    ".bar{display:inline-block;width:60px;height:8px;background:#e3e7eb;border-radius:4px;"
    "vertical-align:middle;margin-right:6px}.bar i{display:block;height:8px;border-radius:4px}\n"
    "pre{background:#f4f6f8;padding:6px;border-radius:4px;overflow:auto;font-size:12px;"
    "margin:2px 0 8px}\n"
    "h2{font-size:15px;margin:0 0 8px}h3{font-size:13px;margin:10px 0 2px;color:#5b6670}\n"
    "svg{background:#f9fafb;border:1px solid #e3e7eb;border-radius:4px}\n"
    "#err{color:#b3261e}\n"
    "</style></head><body>\n"
    "<header><h1>Aerie fleet</h1><span id=\"sum\">loading...</span><span id=\"err\"></span>"
    "</header>\n"
    "<main><section id=\"fleet\"><table><thead><tr><th>Vehicle</th><th>Link</th>"
    "<th>Last seen</th><th>Backlog</th><th>Battery</th><th>Mode</th><th>Position</th>"
    "</tr></thead><tbody id=\"rows\"></tbody></table></section>\n"
    "<section id=\"detail\"><h2 id=\"dtitle\">Select a vehicle</h2><div id=\"dbody\"></div>"
    "</section></main>\n"
    "<script>\n"
    "'use strict';\n"
    "let sel=null;\n"
    "const $=id=>document.getElementById(id);\n"
    "const esc=s=>String(s).replace(/[&<>\"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;',"
    "'\"':'&quot;'}[c]));\n"
    "function ago(t){if(!t)return 'never';const s=(Date.now()-Date.parse(t))/1000;"
    "if(s<60)return Math.max(0,Math.round(s))+'s ago';if(s<3600)return Math.round(s/60)+'m ago';"
    "return Math.round(s/3600)+'h ago';}\n"
    "function bat(p){if(p==null)return '-';const c=p>50?'#2e9d4f':p>20?'#e0a400':'#c62828';"
    "return `<span class=bar><i style=\"width:${Math.max(0,Math.min(100,p))}%;background:${c}\">"
    "</i></span>${Math.round(p)}%`;}\n"
    "async function getj(u){const r=await fetch(u);if(!r.ok)throw new Error(u+': '+r.status+' '+"
    "(await r.text()));return r.json();}\n"
    "async function refresh(){try{const st=await getj('/api/status');$('err').textContent='';\n"
    " const on=st.filter(v=>v.online).length;"
    "$('sum').textContent=`${st.length} vehicles, ${on} online, updated `+"
    "new Date().toLocaleTimeString();\n"
    " $('rows').innerHTML=st.map(v=>{const p=v.position;const live=v.sources&&"
    "Object.values(v.sources).includes('live');\n"
    "  return `<tr data-vid=\"${esc(v.vid)}\" class=\"${v.vid===sel?'sel':''}\">"
    "<td>${esc(v.vid)}${live?'<span class=live>live</span>':''}</td>"
    "<td class=\"${v.online?'on':'off'}\">${v.online?'online':'offline'}</td>"
    "<td>${ago(v.last_seen)}</td><td>${v.backlog_msgs?\?'-'}</td><td>${bat(v.battery_pct)}</td>"
    "<td>${esc(v.mode?\?'-')}${v.armed?' *':''}</td>"
    "<td>${p?p.lat.toFixed(5)+', '+p.lon.toFixed(5)+(p.alt!=null?' &middot; '+p.alt.toFixed(1)"
    "+' m':''):'-'}</td></tr>`;}).join('');\n"
    " document.querySelectorAll('#rows tr').forEach(tr=>tr.onclick=()=>{sel=tr.dataset.vid;"
    "detail();refresh();});\n"
    "}catch(e){$('err').textContent=' '+e.message;}}\n"
    "function spark(pts,w,h,label,unit){if(pts.length<2)return `<h3>${label}</h3><p>no data"
    "</p>`;\n"
    " const xs=pts.map(p=>p[0]),ys=pts.map(p=>p[1]);const x0=Math.min(...xs),x1=Math.max(...xs),"
    "y0=Math.min(...ys),y1=Math.max(...ys);\n"
    " const sx=x=>(x1>x0?(x-x0)/(x1-x0):0)*(w-8)+4,sy=y=>h-4-(y1>y0?(y-y0)/(y1-y0):0.5)*(h-8);\n"
    " return `<h3>${label}: ${ys[ys.length-1].toFixed(1)}${unit} (${y0.toFixed(1)} to "
    "${y1.toFixed(1)})</h3><svg width=${w} height=${h}><polyline fill=none stroke=#1f6fbf "
    "stroke-width=1.5 points=\"${pts.map(p=>sx(p[0]).toFixed(1)+','+sy(p[1]).toFixed(1))"
    ".join(' ')}\"/></svg>`;}\n"
    "function track(pts,w,h){if(pts.length<2)return '';const la=pts.map(p=>p.lat),lo=pts.map(p=>"
    "p.lon);\n"
    " const a0=Math.min(...la),a1=Math.max(...la),o0=Math.min(...lo),o1=Math.max(...lo);"
    "const k=Math.cos(a0*Math.PI/180);\n"
    " const span=Math.max((a1-a0),(o1-o0)*k)||1e-6;const X=o=>4+((o-o0)*k/span)*(w-8),"
    "Y=a=>h-4-((a-a0)/span)*(h-8);\n"
    " return `<h3>ground track</h3><svg width=${w} height=${h}><polyline fill=none "
    "stroke=#2e9d4f stroke-width=1.5 points=\"${pts.map(p=>X(p.lon).toFixed(1)+','+"
    "Y(p.lat).toFixed(1)).join(' ')}\"/></svg>`;}\n"
    "async function detail(){if(!sel)return;const vid=sel;$('dtitle').textContent=vid;try{\n"
    " const [tw,rb,rp]=await Promise.all([getj('/api/twin/'+encodeURIComponent(vid)),\n"
    "  getj('/api/replay/'+encodeURIComponent(vid)+'?since=10m&subject=state.battery&max=1200'),"
    "\n"
    "  getj('/api/replay/'+encodeURIComponent(vid)+'?since=3m&subject=state.position&max=1000')"
    "]);\n"
    " if(vid!==sel)return;const t0=Date.now()/1000;\n"
    " const bp=rb.messages.filter(m=>m.payload&&m.payload.remaining_pct!=null).map(m=>"
    "[Date.parse(m.event_time)/1000-t0,m.payload.remaining_pct]);\n"
    " const ap=rp.messages.filter(m=>m.payload&&m.payload.alt_rel_m!=null).map(m=>"
    "[Date.parse(m.event_time)/1000-t0,m.payload.alt_rel_m]);\n"
    " let h=spark(bp,340,70,'battery, last 10 min','%')+spark(ap,340,70,'altitude above home, "
    "last 3 min',' m')+track(rp.messages.map(m=>m.payload).filter(p=>p&&p.lat!=null),340,160);\n"
    " h+='<h3>twin</h3>'+Object.entries(tw.states).map(([k,s])=>`<div><b>${esc(k)}</b> "
    "${ago(s.event_time)}${s.source==='live'?'<span class=live>live</span>':''}"
    "<pre>${esc(JSON.stringify(s.value))}</pre></div>`).join('');\n"
    " $('dbody').innerHTML=h;}catch(e){$('dbody').textContent=e.message;}}\n"
    "refresh();setInterval(refresh,2000);setInterval(detail,5000);\n"
    "</script></body></html>\n";

typedef struct dash {
    ae_cli *c;
    long requests;
} dash;

/* The note of the request being answered (a copy that did not answer, cli.h), sent as the
 * header Aerie-Note. One request at a time runs (see above), so one slot is enough. */
static const char *request_note;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *type,
                             char *body /* malloc'd, taken */)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (request_note && *request_note)
        MHD_add_response_header(r, "Aerie-Note", request_note);
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned code, json_t *j)
{
    char *d = json_dumps(j, AE_CLI_JSON_FLAGS | JSON_ENCODE_ANY);
    json_decref(j);
    return reply(conn, code, "application/json", d ? d : strdup("null"));
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned code, const char *msg)
{
    return reply_json(conn, code, json_pack("{s:s}", "error", msg));
}

/* A vehicle whose link report is older than this counts as offline. */
static int64_t status_stale(const ae_cli *c)
{
    return c->fleet && c->fleet->stale_ns > 0 && !c->server ? c->fleet->stale_ns
                                                            : 30 * AE_NS_PER_SEC;
}

/* Replaces a hub connection libnats has given up on; connects when there is none. */
static int ensure_connected(ae_cli *c, ae_err *err)
{
    if (c->nc && natsConnection_IsClosed(c->nc)) {
        natsConnection_Destroy(c->nc);
        c->nc = NULL;
    }
    return ae_cli_connect(c, err);
}

typedef struct collect {
    json_t *arr;
    long max;
} collect;

static int collect_msg(void *ctx, const ae_replay_item *it, ae_err *err)
{
    collect *k = ctx;
    char ts[48];
    ae_format_rfc3339(it->event_ns, ts, sizeof ts);
    json_t *m = json_pack("{s:s, s:s, s:I}", "subject", it->subject, "event_time", ts, "seq",
                          (json_int_t)it->seq);
    json_object_set_new(
        m, "payload",
        ae_cli_payload_json(natsMsg_GetData(it->msg), natsMsg_GetDataLength(it->msg)));
    json_array_append_new(k->arr, m);
    if ((long)json_array_size(k->arr) >= k->max)
        return ae_err_set(err, AE_ELIMIT, "max reached");
    return 0;
}

static enum MHD_Result api_replay(dash *d, struct MHD_Connection *conn, const char *vid)
{
    const char *since = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since");
    const char *subject = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "subject");
    const char *maxs = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "max");
    int64_t ago = 10 * 60 * AE_NS_PER_SEC;
    if (since && (ae_parse_duration(since, &ago) != 0 || ago <= 0))
        return reply_error(conn, 400, "since: expected a duration such as 10m");
    if (!subject)
        subject = "state.>";
    if (strncmp(subject, "fleet.", 6) == 0 || strpbrk(subject, " \t\r\n"))
        return reply_error(conn, 400,
                           "subject: a filter relative to the vehicle, e.g. "
                           "state.battery");
    long max = maxs ? strtol(maxs, NULL, 10) : 2000;
    if (max <= 0 || max > 20000)
        max = 2000;
    collect k = {.arr = json_array(), .max = max};
    int subjects = 0;
    long searched = 0;
    ae_err err = {0};
    int64_t now = ae_now_ns();
    int rc = ae_replay_each(d->c, vid, subject, now - ago, INT64_MAX, collect_msg, &k, &subjects,
                            &searched, &err);
    if (rc != 0 && rc != AE_ELIMIT) {
        json_decref(k.arr);
        return reply_error(conn, rc == AE_ENOENT ? 404 : 502, err.msg);
    }
    return reply_json(conn, 200,
                      json_pack("{s:s, s:s, s:o, s:b}", "vid", vid, "subject", subject, "messages",
                                k.arr, "truncated", rc == AE_ELIMIT));
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    dash *d = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_error(conn, 405, "only GET");
    d->requests++;
    d->c->note[0] = 0;
    request_note = d->c->note;
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
        return reply(conn, 200, "text/html; charset=utf-8", strdup(page_html));
    ae_err err = {0};
    if (strcmp(url, "/metrics") == 0) { /* fleet_metrics.h; a hub that is down gives up 0 */
        size_t n = 0;
        ensure_connected(d->c, &err);
        char *text = ae_fleet_metrics(d->c, status_stale(d->c), &n);
        return text ? reply(conn, 200, AE_PROM_CONTENT_TYPE, text)
                    : reply_error(conn, 500, "out of memory");
    }
    if (strncmp(url, "/api/", 5) != 0)
        return reply_error(conn, 404, "no such page; try / or /api/status");
    if (ensure_connected(d->c, &err) != 0)
        return reply_error(conn, 503, err.msg);
    const char *rest = url + 5;
    if (strcmp(rest, "status") == 0) {
        json_t *st = NULL;
        if (ae_status_collect(d->c, status_stale(d->c), &st, &err) != 0)
            return reply_error(conn, 502, err.msg);
        return reply_json(conn, 200, st);
    }
    if (strcmp(rest, "fleet") == 0) {
        /* What the page may show about the fleet: never the passwords. */
        json_t *f = json_pack("{s:s}", "env", d->c->env);
        json_t *v = json_array();
        for (size_t i = 0; d->c->fleet && i < d->c->fleet->n_vehicles; i++)
            json_array_append_new(v, json_string(d->c->fleet->vehicles[i].vid));
        json_object_set_new(f, "vehicles", v);
        return reply_json(conn, 200, f);
    }
    const char *vid = NULL;
    bool twin = false;
    if (strncmp(rest, "twin/", 5) == 0) {
        vid = rest + 5;
        twin = true;
    } else if (strncmp(rest, "replay/", 7) == 0) {
        vid = rest + 7;
    }
    if (!vid)
        return reply_error(conn, 404, "unknown endpoint; see /api/status");
    if (!ae_ident_valid(vid))
        return reply_error(conn, 400, "not a vehicle id");
    if (!twin)
        return api_replay(d, conn, vid);
    json_t *tw = NULL;
    int rc = ae_twin_collect(d->c, vid, &tw, &err);
    if (rc)
        return reply_error(conn, rc == AE_ENOENT ? 404 : 502, err.msg);
    if (json_object_size(json_object_get(tw, "states")) == 0) {
        json_decref(tw);
        return reply_error(conn, 404, "no state stored for this vehicle");
    }
    return reply_json(conn, 200, tw);
}

static int usage(void)
{
    fprintf(stderr, "usage: aerie dashboard [--port 8080] [--listen 127.0.0.1] [--global] [--dir "
                    "DIR | --server URL]\n"
                    "  --global: every vehicle of the fleet, from the fleet-wide aggregate\n");
    return 2;
}

int ae_cmd_dashboard(ae_cli *c, int argc, char **argv)
{
    ae_err err = {0};
    int port = 8080;
    const char *listen = "127.0.0.1";
    for (int i = 1; i < argc;) {
        int r = ae_cli_global_opt(c, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "aerie dashboard: %s\n", err.msg);
            return 2;
        }
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end;
            long p = strtol(argv[i + 1], &end, 10);
            if (*end || p < 1 || p > 65535) {
                fprintf(stderr, "aerie dashboard: --port %s: expected 1..65535\n", argv[i + 1]);
                return 2;
            }
            port = (int)p;
            i += 2;
        } else if (strcmp(argv[i], "--global") == 0) {
            c->global = true; /* every endpoint reads the fleet-wide aggregate */
            i++;
        } else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen = argv[i + 1];
            i += 2;
        } else {
            fprintf(stderr, "aerie dashboard: unexpected argument %s\n", argv[i]);
            return usage();
        }
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, listen, &addr.sin_addr) != 1) {
        fprintf(stderr, "aerie dashboard: --listen %s: expected an IPv4 address\n", listen);
        return 2;
    }
    /* Short requests: the page polls, and a slow hub should show as an error, not a hang. */
    if (!c->timeout_set)
        c->timeout_ns = 2 * AE_NS_PER_SEC;
    if (ae_cli_connect(c, &err) != 0) {
        fprintf(stderr, "aerie dashboard: %s\n", err.msg);
        return 1;
    }
    /* Signals are taken with sigwait on this thread; the server thread must not see them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    dash d = {.c = c};
    struct MHD_Daemon *mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, handle, &d,
        MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!mhd) {
        fprintf(stderr,
                "aerie dashboard: cannot listen on %s:%d (in use? pick another with --port)\n",
                listen, port);
        return 1;
    }
    printf("aerie dashboard: http://%s:%d/ (Ctrl-C stops it)\n", listen, port);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    MHD_stop_daemon(mhd);
    printf("aerie dashboard: stopped after %ld requests\n", d.requests);
    return 0;
}
