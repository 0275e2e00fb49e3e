import { describe, expect, it } from "vitest";
import { cpuinfoHasAes } from "./cpu-features.js";

const x86 = (flags: string) =>
  `processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: ${flags}\nvmx flags\t: aes\nbugs\t\t: spectre_v1\n`;
const arm = (features: string) =>
  `processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: ${features}\nCPU implementer\t: 0x41\n`;

describe("cpuinfoHasAes", () => {
  it("finds aes among an x86 core's flags", () => {
    expect(cpuinfoHasAes(x86("fpu sse2 aes avx2 sha_ni"))).toBe(true);
    expect(cpuinfoHasAes(x86("fpu aes"))).toBe(true);
    expect(cpuinfoHasAes(x86("aes fpu"))).toBe(true);
  });

  it("does not take a flag that only contains the letters, or another line's aes", () => {
    expect(cpuinfoHasAes(x86("fpu sse2 vaes avx2 aes_like"))).toBe(false);
  });

  it("reads arm64's Features line", () => {
    expect(
      cpuinfoHasAes(arm("fp asimd evtstrm aes pmull sha1 sha2 crc32")),
    ).toBe(true);
    // A Raspberry Pi 4 (Cortex-A72 without the crypto extension).
    expect(cpuinfoHasAes(arm("fp asimd evtstrm crc32 cpuid"))).toBe(false);
  });

  it("needs every core to have it, and some core to be described", () => {
    expect(cpuinfoHasAes(x86("fpu aes") + "\n" + x86("fpu"))).toBe(false);
    expect(cpuinfoHasAes(x86("fpu aes") + "\n" + x86("aes sse2"))).toBe(true);
    expect(cpuinfoHasAes("")).toBe(false);
  });
});
