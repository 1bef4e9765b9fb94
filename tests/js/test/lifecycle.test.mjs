// Compatibility: the JavaScript client at scale and across a broker restart. Hundreds of
// concurrent connections each subscribe and receive, and a client reconnects by itself after
// the broker is stopped (by PID) and started again on the same port, with its subscription
// resumed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, StringCodec, Events } from "nats";
import { Broker, waitFor } from "../broker.mjs";

const sc = StringCodec();

test("300 concurrent connections each subscribe and receive", async () => {
  const N = 300;
  const broker = new Broker();
  await broker.start();
  try {
    const conns = [];
    const got = new Array(N).fill(0);
    for (let i = 0; i < N; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, N - i) }, (_, k) =>
          connect({ servers: broker.url, name: `many-${i + k}`, timeout: 5000 }),
        ),
      );
      conns.push(...batch);
    }
    conns.forEach((nc, i) => {
      nc.subscribe(`many.${i}`, { callback: (_e, m) => sc.decode(m.data) === `for-${i}` && got[i]++ });
      nc.subscribe("many.all", { callback: () => got[i]++ });
    });
    await Promise.all(conns.map((nc) => nc.flush()));
    const pub = await connect({ servers: broker.url });
    for (let i = 0; i < N; i++) pub.publish(`many.${i}`, sc.encode(`for-${i}`));
    pub.publish("many.all", sc.encode("everyone"));
    await pub.flush();
    await waitFor(() => got.every((n) => n >= 2), 10000, "every connection to get its 2 messages");
    assert.ok(got.every((n) => n === 2), "a connection got extra messages");
    await Promise.all([...conns, pub].map((nc) => nc.close()));
  } finally {
    await broker.close();
  }
});

test("client reconnects after the broker restarts on the same port", async () => {
  const broker = new Broker();
  await broker.start();
  try {
    const nc = await connect({
      servers: broker.url,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
      reconnectJitter: 0,
      timeout: 3000,
    });
    let reconnected = false;
    (async () => {
      for await (const s of nc.status()) if (s.type === Events.Reconnect) reconnected = true;
    })();
    const msgs = [];
    nc.subscribe("rc.>", { callback: (_e, m) => msgs.push(m.subject) });
    nc.publish("rc.before");
    await nc.flush();
    await waitFor(() => msgs.length === 1, 3000, "message before restart");

    await broker.stop();
    await broker.start();
    await waitFor(() => reconnected, 10000, "the client to reconnect");
    await nc.flush();

    const other = await connect({ servers: broker.url });
    other.publish("rc.after");
    await other.flush();
    nc.publish("rc.self");
    await nc.flush();
    await waitFor(() => msgs.length === 3, 3000, "messages after restart");
    assert.deepEqual(msgs.sort(), ["rc.after", "rc.before", "rc.self"]);
    await other.close();
    await nc.close();
  } finally {
    await broker.close();
  }
});
