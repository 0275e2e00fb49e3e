/**
 * KeptHandles alone, with a fake open and close: which handles stay open, when an evicted one
 * is closed (never under a get still reading through it), and that a failure drops a handle.
 */
import { describe, expect, it } from "vitest";
import { KeptHandles, type OpenedObject } from "./kept-handles.js";

function fixture(limit: number) {
  const opened: string[] = [];
  const closed: string[] = [];
  const handles = new KeptHandles((_, key) => {
    closed.push(key);
  }, limit);
  const open = (key: string) => (): Promise<OpenedObject> => {
    opened.push(key);
    return Promise.resolve({
      handle: new TextEncoder().encode(key),
      size: Promise.resolve(100),
    });
  };
  const read = (key: string): Promise<string> =>
    handles.with(key, open(key), ({ handle }) =>
      Promise.resolve(new TextDecoder().decode(handle)),
    );
  return { handles, opened, closed, open, read };
}

/** Lets the closes that wait on a resolved open run. */
const settle = (): Promise<void> =>
  new Promise((resolve) => setImmediate(resolve));

describe("KeptHandles", () => {
  it("opens each object once while kept, and closes the least recently used beyond the limit", async () => {
    const { handles, opened, closed, read } = fixture(2);
    expect(await read("a")).toBe("a");
    expect(await read("b")).toBe("b");
    expect(await read("a")).toBe("a"); // a is now the most recently used
    expect(await read("c")).toBe("c"); // evicts b
    await settle();
    expect(opened).toEqual(["a", "b", "c"]);
    expect(closed).toEqual(["b"]);
    expect(handles.size).toBe(2);
    expect(await read("b")).toBe("b"); // opened again, evicts a
    await settle();
    expect(opened).toEqual(["a", "b", "c", "b"]);
    expect(closed).toEqual(["b", "a"]);
  });

  it("closes an evicted handle only once the get reading through it is done", async () => {
    const { handles, closed, open, read } = fixture(1);
    let finish = (): void => undefined;
    const slow = handles.with("a", open("a"), async () => {
      await new Promise<void>((resolve) => {
        finish = resolve;
      });
      return "done";
    });
    await settle();
    await read("b"); // evicts a while the slow get still reads through it
    await settle();
    expect(closed).toEqual([]);
    finish();
    expect(await slow).toBe("done");
    await settle();
    expect(closed).toEqual(["a"]);
  });

  it("drops and closes a handle whose get failed, so the next get opens afresh", async () => {
    const { handles, opened, closed, open, read } = fixture(4);
    await read("a");
    const failed = handles.with("a", open("a"), () =>
      Promise.reject(new Error("short read")),
    );
    await expect(failed).rejects.toThrow("short read");
    await settle();
    expect(closed).toEqual(["a"]);
    await read("a");
    expect(opened).toEqual(["a", "a"]);
  });

  it("a failed open is not kept and closes nothing", async () => {
    const { handles, closed, read } = fixture(4);
    const missing = handles.with(
      "gone",
      () => Promise.reject(new Error("not found")),
      () => Promise.resolve("never"),
    );
    await expect(missing).rejects.toThrow("not found");
    await settle();
    expect(handles.size).toBe(0);
    expect(closed).toEqual([]);
    expect(await read("gone")).toBe("gone");
  });
});
