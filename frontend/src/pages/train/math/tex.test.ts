import katex from "katex";
import { describe, expect, it } from "vitest";
import { affine, num, optimizerUpdate, OPTIMIZERS, penaltyTerm, signed, text, vector } from "./tex";

describe("TeX of a run's numbers", () => {
  it("writes numbers with three significant digits and powers of ten outside [0.001, 1e5)", () => {
    expect(num(0.123456)).toBe("0.123");
    expect(num(-1.9749)).toBe("-1.97");
    expect(num(36.095)).toBe("36.1");
    expect(num(0)).toBe("0");
    expect(num(4e-5)).toBe(String.raw`4\times10^{-5}`);
    expect(num(123456)).toBe(String.raw`1.23\times10^{5}`);
    expect(num(Number.NaN)).toBe(String.raw`\mathrm{NaN}`);
    expect(num(-Infinity)).toBe(String.raw`-\infty`);
  });

  it("writes sums with their signs", () => {
    expect(signed(-0.5)).toBe("- 0.5");
    expect(signed(2)).toBe("+ 2");
    expect(affine(0.1, [1.2, -0.4], ["x_1", "x_2"])).toBe(String.raw`1.2\,x_1 - 0.4\,x_2 + 0.1`);
    expect(affine(null, [-2], ["x"])).toBe(String.raw`-2\,x`);
    expect(affine(0, [1, 2, 3, 4, 5], ["a", "b", "c", "d", "e"], 2)).toBe(String.raw`1\,a + 2\,b + \cdots + 0`);
    expect(vector([1, 2, 3], 2)).toBe(String.raw`(1,\ 2,\ \dots)`);
  });

  it("escapes text so that it stays text", () => {
    const box = document.createElement("div");
    box.innerHTML = katex.renderToString(text("a_b {c} 50% #1 $x$ ~^\\"), { throwOnError: true, output: "html" });
    expect(box.textContent?.replace(/\u00a0/g, " ")).toBe("a_b {c} 50% #1 $x$ ~^\\");
    expect(text("|")).toBe(String.raw`\text{|}`);
  });

  it("writes each optimizer's update with η and each penalty with λ", () => {
    for (const name of OPTIMIZERS) {
      const tex = optimizerUpdate(name, 0.003);
      expect(tex).toContain(String.raw`\eta = 0.003`);
      expect(() => katex.renderToString(tex, { throwOnError: true })).not.toThrow();
    }
    expect(optimizerUpdate("adam", null, { beta1: 0.5 })).toContain(String.raw`\beta_1 = 0.5`);
    expect(optimizerUpdate("nesterov", 0.1, { momentum: 0.5 })).toContain(String.raw`\mu = 0.5`);
    expect(optimizerUpdate("adamw", 0.1, { weightDecay: 0.2 })).toContain(String.raw`\lambda_{\text{wd}} = 0.2`);
    expect(penaltyTerm("none", 1, 0.5)).toBeNull();
    expect(penaltyTerm("l2", 0, 0.5)).toBeNull();
    expect(penaltyTerm("l1", 0.1, 0.5)).toBe(String.raw`\lambda \textstyle\sum |w|,\ \ \lambda = 0.1`);
    expect(penaltyTerm("elasticnet", 0.1, 0.3, "W")).toContain(String.raw`r = 0.3`);
  });
});
