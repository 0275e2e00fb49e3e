import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isBlindsyncError } from "../errors.js";
import type { Snapshot } from "../repo/index.js";
import {
  applyPolicy,
  groupSnapshots,
  isEmptyPolicy,
  parseDuration,
  type ForgetPolicy,
  type PolicyDecision,
} from "./forget-policy.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let nextId = 0;

function snap(
  time: string,
  extra: Partial<Pick<Snapshot, "host" | "paths" | "tags" | "seq">> = {},
): Snapshot {
  nextId += 1;
  return {
    id: new Uint8Array(32).fill(nextId % 256),
    seq: nextId,
    previous: null,
    tree: new Uint8Array(32),
    time,
    host: "laptop",
    username: "me",
    paths: ["/home/me"],
    tags: [],
    stats: { files: 1, dirs: 1, bytes: 1, blobsAdded: 0, bytesAdded: 0 },
    ...extra,
  };
}

/** `count` snapshots `stepMs` apart starting at `from`, oldest first. */
function schedule(from: string, stepMs: number, count: number): Snapshot[] {
  const start = Date.parse(from);
  return Array.from({ length: count }, (_, i) =>
    snap(new Date(start + i * stepMs).toISOString()),
  );
}

/** The kept snapshots as [time, reasons], newest first. */
function kept(decisions: readonly PolicyDecision[]): [string, string[]][] {
  return decisions
    .filter((decision) => decision.keep)
    .map((decision) => [decision.snapshot.time, decision.reasons]);
}

function keptTimes(decisions: readonly PolicyDecision[]): string[] {
  return kept(decisions).map(([time]) => time);
}

function expectUsageError(action: () => unknown, message: RegExp): void {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(isBlindsyncError(thrown, "usage")).toBe(true);
  expect((thrown as Error).message).toMatch(message);
}

// The twelve Sunday backups of restic's forget documentation.
const sundays = [
  "2019-09-01",
  "2019-09-08",
  "2019-09-15",
  "2019-09-22",
  "2019-09-29",
  "2019-10-06",
  "2019-10-13",
  "2019-10-20",
  "2019-10-27",
  "2019-11-03",
  "2019-11-10",
  "2019-11-17",
].map((day) => `${day}T11:00:00.000Z`);

describe("applyPolicy on hand-built schedules", () => {
  const hourlyTenDays = schedule("2024-03-01T00:00:00.000Z", HOUR, 240);
  const dailyTwoYears = schedule("2023-01-01T12:00:00.000Z", DAY, 731);

  const cases: {
    name: string;
    snapshots: readonly Snapshot[];
    policy: ForgetPolicy;
    expected: [string, string[]][];
  }[] = [
    {
      name: "keep-daily 3 over ten days of hourly snapshots keeps the last snapshot of the last three days",
      snapshots: hourlyTenDays,
      policy: { keepDaily: 3 },
      expected: [
        ["2024-03-10T23:00:00.000Z", ["daily snapshot"]],
        ["2024-03-09T23:00:00.000Z", ["daily snapshot"]],
        ["2024-03-08T23:00:00.000Z", ["daily snapshot"]],
      ],
    },
    {
      name: "keep-hourly 2 over hourly snapshots keeps the two newest",
      snapshots: hourlyTenDays,
      policy: { keepHourly: 2 },
      expected: [
        ["2024-03-10T23:00:00.000Z", ["hourly snapshot"]],
        ["2024-03-10T22:00:00.000Z", ["hourly snapshot"]],
      ],
    },
    {
      name: "keep-monthly 6 and keep-yearly 2 over two years of daily snapshots keep month ends and the previous year end",
      snapshots: dailyTwoYears,
      policy: { keepMonthly: 6, keepYearly: 2 },
      expected: [
        ["2024-12-31T12:00:00.000Z", ["monthly snapshot", "yearly snapshot"]],
        ["2024-11-30T12:00:00.000Z", ["monthly snapshot"]],
        ["2024-10-31T12:00:00.000Z", ["monthly snapshot"]],
        ["2024-09-30T12:00:00.000Z", ["monthly snapshot"]],
        ["2024-08-31T12:00:00.000Z", ["monthly snapshot"]],
        ["2024-07-31T12:00:00.000Z", ["monthly snapshot"]],
        ["2023-12-31T12:00:00.000Z", ["yearly snapshot"]],
      ],
    },
    {
      name: "keep-daily 4 over weekly backups keeps the last four Sundays, as in restic's documentation",
      snapshots: sundays.map((time) => snap(time)),
      policy: { keepDaily: 4 },
      expected: [
        ["2019-11-17T11:00:00.000Z", ["daily snapshot"]],
        ["2019-11-10T11:00:00.000Z", ["daily snapshot"]],
        ["2019-11-03T11:00:00.000Z", ["daily snapshot"]],
        ["2019-10-27T11:00:00.000Z", ["daily snapshot"]],
      ],
    },
    {
      name: "combined rules each keep their own snapshots and the reasons name every rule that matched",
      snapshots: sundays.map((time) => snap(time)),
      policy: { keepLast: 2, keepWeekly: 3, keepMonthly: 2 },
      expected: [
        [
          "2019-11-17T11:00:00.000Z",
          ["last snapshot", "weekly snapshot", "monthly snapshot"],
        ],
        ["2019-11-10T11:00:00.000Z", ["last snapshot", "weekly snapshot"]],
        ["2019-11-03T11:00:00.000Z", ["weekly snapshot"]],
        ["2019-10-27T11:00:00.000Z", ["monthly snapshot"]],
      ],
    },
    {
      name: "a rule with count left at the oldest snapshot keeps it too, marked oldest",
      snapshots: schedule("2024-03-01T00:00:00.000Z", 6 * HOUR, 8),
      policy: { keepDaily: 5 },
      expected: [
        ["2024-03-02T18:00:00.000Z", ["daily snapshot"]],
        ["2024-03-01T18:00:00.000Z", ["daily snapshot"]],
        ["2024-03-01T00:00:00.000Z", ["oldest daily snapshot"]],
      ],
    },
    {
      name: "keep-daily -1 keeps the newest snapshot of every day and the oldest snapshot",
      snapshots: schedule("2024-03-01T00:00:00.000Z", 8 * HOUR, 9),
      policy: { keepDaily: -1 },
      expected: [
        ["2024-03-03T16:00:00.000Z", ["daily snapshot"]],
        ["2024-03-02T16:00:00.000Z", ["daily snapshot"]],
        ["2024-03-01T16:00:00.000Z", ["daily snapshot"]],
        ["2024-03-01T00:00:00.000Z", ["oldest daily snapshot"]],
      ],
    },
    {
      name: "two snapshots in the same hour count once for keep-hourly",
      snapshots: [
        snap("2024-05-17T09:36:51.000Z"),
        snap("2024-05-17T09:41:06.000Z"),
        snap("2024-05-17T10:15:00.000Z"),
        snap("2024-05-17T11:59:59.999Z"),
      ],
      policy: { keepHourly: 2 },
      expected: [
        ["2024-05-17T11:59:59.999Z", ["hourly snapshot"]],
        ["2024-05-17T10:15:00.000Z", ["hourly snapshot"]],
      ],
    },
    {
      name: "days are UTC days, so 23:30 and 00:30 UTC fall on different days",
      snapshots: [
        snap("2024-03-01T23:30:00.000Z"),
        snap("2024-03-02T00:30:00.000Z"),
        snap("2024-03-02T00:45:00.000Z"),
      ],
      policy: { keepDaily: 2 },
      expected: [
        ["2024-03-02T00:45:00.000Z", ["daily snapshot"]],
        ["2024-03-01T23:30:00.000Z", ["daily snapshot"]],
      ],
    },
    {
      name: "weeks are ISO weeks, so a Sunday in January can belong to the previous year's week 53",
      snapshots: [
        snap("2020-12-28T08:00:00.000Z"), // Monday, 2020-W53
        snap("2020-12-31T08:00:00.000Z"), // Thursday, 2020-W53
        snap("2021-01-03T08:00:00.000Z"), // Sunday, 2020-W53
        snap("2021-01-04T08:00:00.000Z"), // Monday, 2021-W01
      ],
      policy: { keepWeekly: 2 },
      expected: [
        ["2021-01-04T08:00:00.000Z", ["weekly snapshot"]],
        ["2021-01-03T08:00:00.000Z", ["weekly snapshot"]],
      ],
    },
    {
      name: "a late-December Monday is in week 1 of the next ISO year",
      snapshots: [
        snap("2019-12-27T08:00:00.000Z"), // Friday, 2019-W52
        snap("2019-12-30T08:00:00.000Z"), // Monday, 2020-W01
        snap("2020-01-01T08:00:00.000Z"), // Wednesday, 2020-W01
      ],
      policy: { keepWeekly: 2 },
      expected: [
        ["2020-01-01T08:00:00.000Z", ["weekly snapshot"]],
        ["2019-12-27T08:00:00.000Z", ["weekly snapshot"]],
      ],
    },
    {
      name: "keep-tag keeps every snapshot with all tags of the list and nothing else",
      snapshots: [
        snap("2024-01-01T00:00:00.000Z", { tags: ["release", "signed"] }),
        snap("2024-01-02T00:00:00.000Z", { tags: ["release"] }),
        snap("2024-01-03T00:00:00.000Z", { tags: ["signed", "release"] }),
        snap("2024-01-04T00:00:00.000Z"),
      ],
      policy: { keepTags: ["release, signed"] },
      expected: [
        ["2024-01-03T00:00:00.000Z", ["has tags [release, signed]"]],
        ["2024-01-01T00:00:00.000Z", ["has tags [release, signed]"]],
      ],
    },
    {
      name: "several keep-tag lists each add their reason, and the empty tag matches untagged snapshots",
      snapshots: [
        snap("2024-01-01T00:00:00.000Z", { tags: ["a", "b"] }),
        snap("2024-01-02T00:00:00.000Z", { tags: ["c"] }),
        snap("2024-01-03T00:00:00.000Z"),
        snap("2024-01-04T00:00:00.000Z", { tags: ["b"] }),
      ],
      policy: { keepTags: ["a", "b", ""], keepLast: 1 },
      expected: [
        ["2024-01-04T00:00:00.000Z", ["has tags [b]", "last snapshot"]],
        ["2024-01-03T00:00:00.000Z", ["has tags []"]],
        ["2024-01-01T00:00:00.000Z", ["has tags [a]", "has tags [b]"]],
      ],
    },
    {
      name: "keep-within keeps what is strictly newer than the newest time minus the duration",
      snapshots: [
        snap("2024-03-05T12:00:00.000Z"),
        snap("2024-03-06T11:59:59.999Z"),
        snap("2024-03-06T12:00:00.000Z"),
        snap("2024-03-06T12:00:00.001Z"),
        snap("2024-03-08T12:00:00.000Z"),
      ],
      policy: { keepWithin: "2d" },
      expected: [
        ["2024-03-08T12:00:00.000Z", ["within 2d"]],
        ["2024-03-06T12:00:00.001Z", ["within 2d"]],
      ],
    },
    {
      name: "keep-within subtracts months on the calendar, so 31 March minus 1m is 2 March in a leap year",
      snapshots: [
        snap("2024-02-29T12:00:00.000Z"),
        snap("2024-03-02T12:00:00.000Z"),
        snap("2024-03-02T12:00:01.000Z"),
        snap("2024-03-31T12:00:00.000Z"),
      ],
      policy: { keepWithin: "1m" },
      expected: [
        ["2024-03-31T12:00:00.000Z", ["within 1m"]],
        ["2024-03-02T12:00:01.000Z", ["within 1m"]],
      ],
    },
    {
      name: "keep-within subtracts years, months and days before hours and names the duration canonically",
      snapshots: [
        snap("2022-12-31T10:00:00.000Z"),
        snap("2022-12-31T10:00:00.001Z"),
        snap("2024-03-01T12:00:00.000Z"),
      ],
      policy: { keepWithin: "2h1d2m1y" },
      expected: [
        ["2024-03-01T12:00:00.000Z", ["within 1y2m1d2h"]],
        ["2022-12-31T10:00:00.001Z", ["within 1y2m1d2h"]],
      ],
    },
    {
      name: "keep-within takes the month off before the hours, as Go's AddDate then Add",
      snapshots: [
        snap("2024-01-29T23:30:00.000Z"),
        snap("2024-01-31T23:00:00.000Z"),
        snap("2024-01-31T23:30:00.000Z"),
        snap("2024-03-01T01:00:00.000Z"),
      ],
      policy: { keepWithin: "1m2h" },
      expected: [
        ["2024-03-01T01:00:00.000Z", ["within 1m2h"]],
        ["2024-01-31T23:30:00.000Z", ["within 1m2h"]],
      ],
    },
    {
      name: "keep-last -1 keeps every snapshot",
      snapshots: schedule("2024-01-01T00:00:00.000Z", HOUR, 5),
      policy: { keepLast: -1 },
      expected: [4, 3, 2, 1, 0].map((hour) => [
        `2024-01-01T0${hour}:00:00.000Z`,
        ["last snapshot"],
      ]),
    },
  ];

  for (const { name, snapshots, policy, expected } of cases) {
    it(name, () => {
      expect(kept(applyPolicy(snapshots, policy))).toEqual(expected);
    });
  }

  it("returns one decision per snapshot, newest first, whatever the input order", () => {
    const snapshots = schedule("2024-01-01T00:00:00.000Z", DAY, 6);
    const shuffled = [3, 0, 5, 1, 4, 2].map((i) => snapshots[i]!);
    const decisions = applyPolicy(shuffled, { keepLast: 2 });
    expect(decisions.map((decision) => decision.snapshot)).toEqual(
      [...snapshots].reverse(),
    );
    expect(decisions.map((decision) => decision.keep)).toEqual([
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
    expect(
      decisions.filter((decision) => !decision.keep).map((d) => d.reasons),
    ).toEqual([[], [], [], []]);
  });

  it("orders snapshots with the same time by sequence number, so keep-last 1 keeps the later one", () => {
    const time = "2024-01-01T00:00:00.000Z";
    const first = snap(time, { seq: 7 });
    const second = snap(time, { seq: 8 });
    const decisions = applyPolicy([second, first], { keepLast: 1 });
    expect(decisions.map((d) => [d.snapshot.seq, d.keep])).toEqual([
      [8, true],
      [7, false],
    ]);
    expect(
      applyPolicy([first, second], { keepLast: 1 }).map((d) => d.snapshot.seq),
    ).toEqual([8, 7]);
  });

  it("measures keep-within from the newest snapshot, not from the time forget runs", () => {
    const snapshots = [
      snap("2020-01-01T00:00:00.000Z"),
      snap("2020-01-05T00:00:00.000Z"),
    ];
    expect(keptTimes(applyPolicy(snapshots, { keepWithin: "7d" }))).toEqual([
      "2020-01-05T00:00:00.000Z",
      "2020-01-01T00:00:00.000Z",
    ]);
  });

  it("ignores snapshots dated after now when choosing the keep-within reference, and keeps them", () => {
    const snapshots = [
      snap("2024-01-01T00:00:00.000Z"),
      snap("2024-01-09T00:00:00.000Z"),
      snap("2030-01-01T00:00:00.000Z"),
    ];
    const now = new Date("2024-01-10T00:00:00.000Z");
    expect(
      keptTimes(applyPolicy(snapshots, { keepWithin: "7d" }, { now })),
    ).toEqual(["2030-01-01T00:00:00.000Z", "2024-01-09T00:00:00.000Z"]);
    expect(keptTimes(applyPolicy(snapshots, { keepWithin: "7d" }))).toEqual([
      "2030-01-01T00:00:00.000Z",
    ]);
  });

  it("keeps every snapshot by keep-within when all of them are dated after now", () => {
    const snapshots = schedule("2030-01-01T00:00:00.000Z", 30 * DAY, 4);
    const decisions = applyPolicy(
      snapshots,
      { keepWithin: "1d" },
      { now: new Date("2024-01-01T00:00:00.000Z") },
    );
    expect(decisions.every((d) => d.keep)).toBe(true);
  });

  it("keeps everything with the reason restic gives when the policy is empty", () => {
    const snapshots = schedule("2024-01-01T00:00:00.000Z", DAY, 3);
    expect(
      applyPolicy(snapshots, { keepLast: 0, keepWithin: "" }).map((d) => [
        d.keep,
        d.reasons,
      ]),
    ).toEqual([
      [true, ["policy is empty"]],
      [true, ["policy is empty"]],
      [true, ["policy is empty"]],
    ]);
  });

  it("returns no decisions for no snapshots", () => {
    expect(applyPolicy([], { keepLast: 1 })).toEqual([]);
  });

  it("rejects a count below -1 or a fractional count as a usage error", () => {
    expectUsageError(
      () => applyPolicy([], { keepDaily: -2 }),
      /--keep-daily must be a whole number/,
    );
    expectUsageError(
      () => applyPolicy([], { keepLast: 1.5 }),
      /--keep-last must be a whole number/,
    );
    expectUsageError(
      () => applyPolicy([], { keepYearly: Number.NaN }),
      /--keep-yearly/,
    );
  });

  it("rejects an unparsable keep-within as a usage error", () => {
    expectUsageError(
      () => applyPolicy([], { keepWithin: "1w" }),
      /invalid unit "w"/,
    );
  });
});

describe("isEmptyPolicy", () => {
  it.each<[ForgetPolicy, boolean]>([
    [{}, true],
    [{ keepLast: 0, keepDaily: 0 }, true],
    [{ keepWithin: "" }, true],
    [{ keepWithin: "0d0h" }, true],
    [{ keepTags: [] }, true],
    [{ keepLast: 1 }, false],
    [{ keepHourly: -1 }, false],
    [{ keepWithin: "1h" }, false],
    [{ keepTags: [""] }, false],
  ])("says %j is empty: %s", (policy, empty) => {
    expect(isEmptyPolicy(policy)).toBe(empty);
  });

  it("throws a usage error for a malformed policy rather than calling it empty", () => {
    expectUsageError(() => isEmptyPolicy({ keepWeekly: -3 }), /keep-weekly/);
  });
});

describe("parseDuration", () => {
  it.each([
    ["1y2m3d4h", { years: 1, months: 2, days: 3, hours: 4 }],
    ["4h3d", { years: 0, months: 0, days: 3, hours: 4 }],
    ["  7d ", { years: 0, months: 0, days: 7, hours: 0 }],
    ["", { years: 0, months: 0, days: 0, hours: 0 }],
    ["1d2d", { years: 0, months: 0, days: 2, hours: 0 }],
    ["36h", { years: 0, months: 0, days: 0, hours: 36 }],
  ])("parses %j as restic does", (text, expected) => {
    expect(parseDuration(text)).toEqual(expected);
  });

  it.each([
    ["1w", /invalid unit "w"/],
    ["5", /no unit found after number 5/],
    ["d", /no number found/],
    ["1y 2m", /no number found/],
    ["-1d", /negative/],
    ["99999999999999999999d", /too large/],
  ])("rejects %j as a usage error", (text, message) => {
    expectUsageError(() => parseDuration(text), message);
  });
});

describe("groupSnapshots", () => {
  it("groups by host and by the set of paths, ignoring the order of paths", () => {
    const a = snap("2024-01-01T00:00:00.000Z", {
      host: "alpha",
      paths: ["/a", "/b"],
    });
    const b = snap("2024-01-02T00:00:00.000Z", {
      host: "alpha",
      paths: ["/b", "/a"],
    });
    const c = snap("2024-01-03T00:00:00.000Z", {
      host: "beta",
      paths: ["/a", "/b"],
    });
    const d = snap("2024-01-04T00:00:00.000Z", {
      host: "alpha",
      paths: ["/a"],
    });
    expect(groupSnapshots([a, b, c, d], { host: true, paths: true })).toEqual([
      [d],
      [a, b],
      [c],
    ]);
    expect(groupSnapshots([a, b, c, d], { host: true, paths: false })).toEqual([
      [a, b, d],
      [c],
    ]);
    expect(groupSnapshots([a, b, c, d], { host: false, paths: true })).toEqual([
      [d],
      [a, b, c],
    ]);
    expect(groupSnapshots([a, b, c, d], { host: false, paths: false })).toEqual(
      [[a, b, c, d]],
    );
  });

  it("returns no groups for no snapshots", () => {
    expect(groupSnapshots([], { host: true, paths: true })).toEqual([]);
  });
});

describe("applyPolicy properties", () => {
  const start = Date.parse("2020-01-01T00:00:00.000Z");
  const times = fc.array(fc.integer({ min: 0, max: 3 * 365 * 24 }), {
    maxLength: 60,
  });
  const count = fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 12 }));
  const policy = fc.record(
    {
      keepLast: count,
      keepHourly: count,
      keepDaily: count,
      keepWeekly: count,
      keepMonthly: count,
      keepYearly: count,
      keepWithin: fc.constantFrom("", "1h", "3d", "2m", "1y"),
      keepTags: fc.constantFrom([], ["x"], ["x,y"], [""]),
    },
    { requiredKeys: [] },
  );
  const toSnapshots = (hours: readonly number[]): Snapshot[] =>
    hours.map((hour, i) =>
      snap(new Date(start + hour * HOUR + (i % 7) * 60_000).toISOString(), {
        tags: i % 3 === 0 ? ["x"] : i % 3 === 1 ? ["x", "y"] : [],
      }),
    );

  it("gives every kept snapshot a reason and every removed one none, newest first", () => {
    fc.assert(
      fc.property(times, policy, (hours, rules) => {
        const snapshots = toSnapshots(hours);
        const decisions = applyPolicy(snapshots, rules);
        expect(decisions).toHaveLength(snapshots.length);
        for (const decision of decisions) {
          expect(decision.keep).toBe(decision.reasons.length > 0);
        }
        const ms = decisions.map((d) => Date.parse(d.snapshot.time));
        for (let i = 1; i < ms.length; i++) {
          expect(ms[i - 1]!).toBeGreaterThanOrEqual(ms[i]!);
        }
        if (!isEmptyPolicy(rules) && snapshots.length > 0) {
          expect(decisions[0]!.keep || (rules.keepTags?.length ?? 0) > 0).toBe(
            true,
          );
        }
      }),
    );
  });

  it("keeps exactly the min(N, count) newest snapshots with keep-last N", () => {
    fc.assert(
      fc.property(times, fc.integer({ min: 1, max: 80 }), (hours, n) => {
        const decisions = applyPolicy(toSnapshots(hours), { keepLast: n });
        const expected = Math.min(n, hours.length);
        expect(decisions.filter((d) => d.keep)).toHaveLength(expected);
        expect(decisions.slice(0, expected).every((d) => d.keep)).toBe(true);
        expect(
          decisions.every(
            (d) =>
              d.reasons.length === 0 ||
              (d.reasons.length === 1 && d.reasons[0] === "last snapshot"),
          ),
        ).toBe(true);
      }),
    );
  });

  it("keeps a superset when a count grows", () => {
    fc.assert(
      fc.property(times, fc.integer({ min: 0, max: 10 }), (hours, n) => {
        const snapshots = toSnapshots(hours);
        const fewer = new Set(
          applyPolicy(snapshots, { keepDaily: n + 1 })
            .filter((d) => d.keep)
            .map((d) => d.snapshot),
        );
        const more = new Set(
          applyPolicy(snapshots, { keepDaily: n + 2 })
            .filter((d) => d.keep)
            .map((d) => d.snapshot),
        );
        for (const snapshot of fewer) {
          expect(more.has(snapshot)).toBe(true);
        }
      }),
    );
  });
});
