// Compatibility: the official NATS JavaScript client (nats v2, pinned) against the broker
// under test, on one shared broker: INFO as the client sees it, pub/sub, wildcards, queue
// groups, request/reply, headers, no-responders, auto-unsubscribe via `max`, noEcho and
// payloads up to max_payload. No JetStream.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, StringCodec, ErrorCode } from "nats";
import { Broker, brokerName, waitFor, sleep } from "../broker.mjs";

const sc = StringCodec();
let broker;
const open = [];

async function client(opts = {}) {
  const nc = await connect({ servers: broker.url, name: "js-interop", timeout: 3000, ...opts });
  open.push(nc);
  return nc;
}

/**
 * Subscribes with a callback that stores every message; wait(n, ms) resolves once n messages
 * are stored or ms passed, with what arrived so far.
 */
function collector(nc, subject, opts = {}) {
  const msgs = [];
  const sub = nc.subscribe(subject, { ...opts, callback: (err, m) => !err && msgs.push(m) });
  return {
    sub,
    msgs,
    async wait(n, ms = 3000) {
      const deadline = Date.now() + ms;
      while (msgs.length < n && Date.now() < deadline) await sleep(5);
      return msgs.slice();
    },
  };
}

before(async () => {
  broker = new Broker();
  await broker.start();
});

after(async () => {
  for (const nc of open) if (!nc.isClosed()) await nc.close();
  await broker.close();
});

test(`info fields as the client sees them (${brokerName()})`, async () => {
  const nc = await client();
  const info = nc.info;
  assert.equal(typeof info.server_id, "string");
  assert.ok(info.server_id.length > 0);
  assert.equal(typeof info.version, "string");
  const [maj, min] = info.version.split(".").map(Number);
  assert.ok(maj > 2 || (maj === 2 && min >= 2), `version ${info.version} below 2.2`);
  assert.equal(info.proto, 1);
  assert.equal(info.headers, true);
  assert.equal(info.max_payload, 1048576);
  assert.equal(info.port, broker.port);
  assert.ok(!info.auth_required);
  assert.ok(!info.tls_required);
});

test("pub/sub delivers exact bytes", async () => {
  const nc = await client();
  const sub = collector(nc, "js.ps");
  await nc.flush();
  nc.publish("js.ps", sc.encode("hello"));
  nc.publish("js.ps", new Uint8Array([0, 13, 10, 255]));
  nc.publish("js.ps");
  nc.publish("js.ps", sc.encode("r"), { reply: "js.reply" });
  const got = await sub.wait(4);
  assert.equal(got.length, 4);
  assert.equal(sc.decode(got[0].data), "hello");
  assert.deepEqual([...got[1].data], [0, 13, 10, 255]);
  assert.equal(got[2].data.length, 0);
  assert.equal(got[3].reply, "js.reply");
});

test("wildcards * and > and literal tokens", async () => {
  const nc = await client();
  const one = collector(nc, "w.*");
  const all = collector(nc, "w.>");
  const lit = collector(nc, "w.x*");
  await nc.flush();
  for (const s of ["w.a", "w.a.b", "w", "w.x*", "w.xy"]) nc.publish(s, sc.encode(s));
  await nc.flush();
  await sleep(300); // let anything that should not arrive arrive
  const [g1, g2, g3] = [one.msgs, all.msgs, lit.msgs];
  assert.deepEqual(g1.map((m) => m.subject), ["w.a", "w.x*", "w.xy"]);
  assert.deepEqual(g2.map((m) => m.subject), ["w.a", "w.a.b", "w.x*", "w.xy"]);
  assert.deepEqual(g3.map((m) => m.subject), ["w.x*"]);
});

test("queue group: every message exactly once, spread over members", async () => {
  const N = 300;
  const members = await Promise.all([client(), client(), client()]);
  const counts = [0, 0, 0];
  members.forEach((nc, i) => nc.subscribe("jobs", { queue: "workers", callback: () => counts[i]++ }));
  await Promise.all(members.map((nc) => nc.flush()));
  const pub = await client();
  for (let i = 0; i < N; i++) pub.publish("jobs", sc.encode(String(i)));
  await pub.flush();
  await waitFor(() => counts.reduce((a, b) => a + b) >= N, 5000, "queue deliveries");
  await sleep(200); // room for duplicates to show up
  assert.equal(counts.reduce((a, b) => a + b), N);
  for (const c of counts) assert.ok(c > 0, `a member got nothing: ${counts}`);
});

test("request/reply", async () => {
  const srv = await client();
  srv.subscribe("svc.echo", { callback: (_err, m) => m.respond(sc.encode("re:" + sc.decode(m.data))) });
  await srv.flush();
  const cli = await client();
  for (let i = 0; i < 20; i++) {
    const r = await cli.request("svc.echo", sc.encode(`ping-${i}`), { timeout: 3000 });
    assert.equal(sc.decode(r.data), `re:ping-${i}`);
  }
});

test("headers round trip, repeated keys kept", async () => {
  const nc = await client();
  const sub = collector(nc, "hdr");
  await nc.flush();
  const h = headers();
  h.set("Vehicle", "uav-7");
  h.append("Tag", "a");
  h.append("Tag", "b");
  nc.publish("hdr", sc.encode("body"), { headers: h, reply: "hdr.reply" });
  const [m] = await sub.wait(1);
  assert.ok(m, "no message");
  assert.equal(sc.decode(m.data), "body");
  assert.equal(m.reply, "hdr.reply");
  assert.equal(m.headers.get("Vehicle"), "uav-7");
  assert.deepEqual(m.headers.values("Tag"), ["a", "b"]);
  assert.equal(m.headers.has("Missing"), false);
});

test("request to nobody fails fast with no responders", async () => {
  const nc = await client();
  const t0 = Date.now();
  await assert.rejects(nc.request("nobody.home", sc.encode("hi"), { timeout: 5000 }), (err) => {
    assert.equal(err.code, ErrorCode.NoResponders);
    return true;
  });
  assert.ok(Date.now() - t0 < 2000, "no-responders was not fast");
});

test("auto-unsubscribe via max", async () => {
  const nc = await client();
  const au = collector(nc, "au", { max: 3 });
  await nc.flush();
  for (let i = 0; i < 6; i++) nc.publish("au", sc.encode(String(i)));
  await nc.flush();
  await au.wait(3);
  await sleep(300);
  assert.deepEqual(au.msgs.map((m) => sc.decode(m.data)), ["0", "1", "2"]);
  assert.equal(au.sub.isClosed(), true);
  // The broker dropped the interest as well: a new subscription sees new messages only.
  const fresh = collector(nc, "au");
  await nc.flush();
  nc.publish("au", sc.encode("y"));
  const [m] = await fresh.wait(1);
  assert.equal(sc.decode(m.data), "y");
});

test("noEcho: own messages are not delivered back", async () => {
  const quiet = await client({ noEcho: true });
  const other = await client();
  const qs = collector(quiet, "echo");
  const os = collector(other, "echo");
  await Promise.all([quiet.flush(), other.flush()]);
  quiet.publish("echo", sc.encode("mine"));
  await quiet.flush();
  other.publish("echo", sc.encode("theirs"));
  await other.flush();
  await os.wait(2);
  await sleep(300);
  const [gq, go] = [qs.msgs, os.msgs];
  assert.deepEqual(gq.map((m) => sc.decode(m.data)), ["theirs"]);
  assert.deepEqual(go.map((m) => sc.decode(m.data)), ["mine", "theirs"]);
});

test("payloads up to max_payload; over it is refused", async () => {
  const nc = await client();
  const sub = collector(nc, "big");
  await nc.flush();
  let k = 0;
  for (const size of [65536, 500000, 1048576]) {
    const buf = new Uint8Array(size);
    for (let i = 0; i < size; i++) buf[i] = (i * 31 + size) & 0xff;
    nc.publish("big", buf);
    const m = (await sub.wait(++k, 5000))[k - 1];
    assert.ok(m, `no message of ${size} bytes`);
    assert.equal(m.data.length, size);
    assert.ok(Buffer.from(m.data).equals(Buffer.from(buf)), `payload of ${size} corrupted`);
  }
  assert.throws(
    () => nc.publish("big", new Uint8Array(1048577)),
    (err) => err.code === ErrorCode.MaxPayloadExceeded,
  );
  // Still usable afterwards.
  const r = await nc.request("big.none", sc.encode("x"), { timeout: 2000 }).catch((e) => e);
  assert.equal(r.code, ErrorCode.NoResponders);
});
