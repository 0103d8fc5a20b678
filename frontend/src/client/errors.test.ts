import { describe, expect, it } from "vitest";
import { errorMessage, fieldErrors } from "./errors";

const body422 = {
  detail: [
    { loc: ["body", "params", "lr"], msg: "Input should be less than or equal to 1", type: "less_than_equal" },
    { loc: ["body", "params", "bogus"], msg: "Extra inputs are not permitted", type: "extra_forbidden" },
    { loc: ["body", "kind"], msg: "unknown job kind 'x'", type: "value_error" },
  ],
};

describe("API errors", () => {
  it("puts 422 messages at their field, the rest at the form", () => {
    expect(fieldErrors(body422, [["body", "params"]])).toEqual({
      lr: "Input should be less than or equal to 1",
      bogus: "Extra inputs are not permitted",
      "": "kind: unknown job kind 'x'",
    });
  });

  it("says plainly what went wrong", () => {
    expect(errorMessage({ detail: "invalid username or password" })).toBe("invalid username or password");
    expect(errorMessage(body422)).toContain("params.lr: Input should be less than or equal to 1");
    expect(errorMessage(undefined, "fallback")).toBe("fallback");
  });
});
