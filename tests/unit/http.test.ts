import { afterEach, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { connectionBudget, DESCRIPTOR_RESERVE } from "../../lib/agent/descriptors.ts";
import { answerRequest, startHttp, type HttpServer } from "../../lib/agent/http.ts";
import { freePort } from "../e2e/support.ts";

const deps = { metrics: () => "armor_containers 3\n", ready: () => true };

describe("answerRequest()", () => {
  test.each([
    ["GET /metrics HTTP/1.1", 200, "armor_containers 3\n"],
    ["GET /metrics?name[]=x HTTP/1.1", 200, "armor_containers 3\n"],
    ["GET http://127.0.0.1:9469/healthz HTTP/1.1", 200, "ok\n"],
    ["GET /healthz HTTP/1.0", 200, "ok\n"],
    ["GET /readyz HTTP/1.1", 200, "ready\n"],
    ["GET /nope HTTP/1.1", 404, "not found\n"],
    ["POST /metrics HTTP/1.1", 405, "method not allowed\n"],
    ["HEAD /metrics HTTP/1.1", 405, "method not allowed\n"],
    ["GET /metrics HTTP/2.0", 400, "bad request\n"],
    ["garbage", 400, "bad request\n"],
    ["", 400, "bad request\n"],
  ])("%j → %i", (line, status, body) => {
    const answer = answerRequest(`${line}\r\nhost: x`, deps);
    expect([answer.status, answer.body]).toEqual([status, body]);
  });

  test("/readyz is 503 while bootstrapping", () => {
    expect(answerRequest("GET /readyz HTTP/1.1", { ...deps, ready: () => false })).toMatchObject({ status: 503, body: "bootstrapping\n" });
  });
});

describe("connectionBudget()", () => {
  test.each([
    [1_048_576, { socket: 1024, hooks: 256, http: 16, reduced: false }],
    [1024, { socket: 1024 - DESCRIPTOR_RESERVE - 17 - 1, hooks: 235, http: 16, reduced: true }],
    [300, { socket: 300 - DESCRIPTOR_RESERVE - 17 - 1, hooks: 54, http: 16, reduced: true }],
    [70, { socket: 1, hooks: 1, http: 3, reduced: true }],
  ])("soft limit %i: %j", (soft, expected) => {
    expect(connectionBudget(soft, { socket: 1024, hooks: 256, http: 16 })).toEqual(expected);
  });

  test("without a metrics listener the socket gets its descriptors", () => {
    expect(connectionBudget(300, { socket: 1024, hooks: 256, http: 0 })).toEqual({ socket: 300 - DESCRIPTOR_RESERVE - 1, hooks: 58, http: 0, reduced: true });
  });
});

describe("startHttp()", () => {
  let server: HttpServer | undefined;
  const sockets: Socket<undefined>[] = [];
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.terminate();
    server?.stop();
    server = undefined;
  });

  /** A raw TCP client: what it received, and whether the server closed it. */
  async function connect(port: number): Promise<{ socket: Socket<undefined>; text: () => string; closed: Promise<void> }> {
    let text = "";
    let markClosed = (): void => {};
    const closed = new Promise<void>((resolve) => {
      markClosed = resolve;
    });
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data: (_s, chunk) => void (text += Buffer.from(chunk).toString()),
        close: () => markClosed(),
        error: () => markClosed(),
      },
    });
    sockets.push(socket);
    return { socket, text: () => text, closed };
  }

  const within = <T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> => Promise.race([promise, Bun.sleep(ms).then(() => "timeout" as const)]);

  test("serves /metrics, /healthz and /readyz, one request per connection", async () => {
    server = startHttp(`127.0.0.1:${freePort()}`, deps);
    const metrics = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await metrics.text()).toBe("armor_containers 3\n");
    expect(await (await fetch(`http://127.0.0.1:${server.port}/healthz`)).text()).toBe("ok\n");
    const wrong = await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: "POST", body: "x" });
    expect(wrong.status).toBe(405);
  });

  test("answers 503 and closes a connection beyond its cap; idle ones are cut at the deadline and scraping works again", async () => {
    // 64 MiB of metrics that the first two clients never read: their slots stay busy answering.
    const big = "#".repeat(64 * 1024 * 1024);
    server = startHttp(`127.0.0.1:${freePort()}`, { ...deps, metrics: () => big }, { maxConnections: 2, deadlineMs: 300 });
    const stuck = [await connect(server.port), await connect(server.port)];
    for (const client of stuck) {
      client.socket.pause();
      client.socket.write("GET /metrics HTTP/1.1\r\n\r\n");
    }
    await Bun.sleep(50);
    const third = await connect(server.port);
    expect(await within(third.closed, 2000)).toBeUndefined();
    expect(third.text()).toStartWith("HTTP/1.1 503 Service Unavailable\r\n");
    for (const client of stuck) client.socket.resume();
    for (const client of stuck) expect(await within(client.closed, 2000)).toBeUndefined();
    const idle = [await connect(server.port), await connect(server.port)];
    for (const client of idle) expect(await within(client.closed, 2000)).toBeUndefined();
    expect(idle.map((client) => client.text())).toEqual(["", ""]);
    expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
  });

  test("a scraper gets in past connections that never send a request: the oldest of them makes way", async () => {
    server = startHttp(`127.0.0.1:${freePort()}`, deps, { maxConnections: 2, deadlineMs: 60_000 });
    const idle = [await connect(server.port), await connect(server.port)];
    await Bun.sleep(300);
    const scrape = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect([scrape.status, await scrape.text()]).toEqual([200, "armor_containers 3\n"]);
    expect(await within(idle[0]?.closed ?? Promise.resolve(), 2000)).toBeUndefined();
  });

  test("a probe gets in past a flood that opens connections faster than any grace period: the oldest without a request makes way, however young", async () => {
    server = startHttp(`127.0.0.1:${freePort()}`, deps, { maxConnections: 2, deadlineMs: 60_000 });
    const young = [await connect(server.port), await connect(server.port)];
    const probe = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect([probe.status, await probe.text()]).toEqual([200, "ok\n"]);
    expect(await within(young[0]?.closed ?? Promise.resolve(), 2000)).toBeUndefined();
    expect(young.map((client) => client.text())).toEqual(["", ""]);
    // Newcomers past the cap again take the slot of the oldest connection without a request.
    const next = [await connect(server.port), await connect(server.port)];
    expect(await within(young[1]?.closed ?? Promise.resolve(), 2000)).toBeUndefined();
    expect(next.map((client) => client.text())).toEqual(["", ""]);
  });

  test("cuts a client that trickles its request at the deadline", async () => {
    server = startHttp(`127.0.0.1:${freePort()}`, deps, { deadlineMs: 300 });
    const client = await connect(server.port);
    const request = "GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n";
    let sent = 0;
    while (sent < request.length - 1 && (await within(client.closed, 50)) === "timeout") client.socket.write(request[sent++] ?? "");
    expect(sent).toBeLessThan(request.length - 1);
    expect(client.text()).toBe("");
  });

  test("answers a request head over its bound with 431, without reading on", async () => {
    server = startHttp(`127.0.0.1:${freePort()}`, deps, { maxRequestBytes: 1024 });
    const client = await connect(server.port);
    client.socket.write(`GET /metrics HTTP/1.1\r\nx-pad: ${"a".repeat(4096)}\r\n\r\n`);
    expect(await within(client.closed, 2000)).toBeUndefined();
    expect(client.text()).toStartWith("HTTP/1.1 431 Request Header Fields Too Large\r\n");
  });
});
