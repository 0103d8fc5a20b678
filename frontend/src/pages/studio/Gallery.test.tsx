import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { GenerationPublic } from "../../client/types";
import { Gallery } from "./Gallery";

const item = (i: number): GenerationPublic => ({
  id: `g${i}`,
  job_id: `job-${i}`,
  owner: "ann",
  prompt: "a red circle",
  params: { prompt: "a red circle", steps: 20, sampler: "DDIM" },
  seed: i,
  model: "house",
  state: "succeeded",
  progress: 1,
  error: null,
  images: [`/api/v1/jobs/job-${i}/artifacts/final/image_0.png`],
  created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
});

const page = Array.from({ length: 24 }, (_, i) => item(i));
const noop = () => undefined;

describe("Gallery pages", () => {
  it("stops at the last page of an exact count", () => {
    render(<Gallery items={page} count={10000} offset={10000 - 24} onPage={noop} onUse={noop} onOpen={noop} />);
    expect(screen.getByTestId("gallery-range").textContent).toBe("9977–10000 of 10000");
    expect((screen.getByTestId("gallery-next") as HTMLButtonElement).disabled).toBe(true);
  });

  it("says 10000+ and goes on when the API stopped counting", () => {
    render(
      <Gallery items={page} count={10000} countCapped offset={10000 - 24} onPage={noop} onUse={noop} onOpen={noop} />,
    );
    expect(screen.getByTestId("gallery-range").textContent).toBe("9977–10000 of 10000+");
    expect((screen.getByTestId("gallery-next") as HTMLButtonElement).disabled).toBe(false);
  });

  it("numbers a page past the capped count by its own rows", () => {
    render(<Gallery items={page} count={10000} countCapped offset={10008} onPage={noop} onUse={noop} onOpen={noop} />);
    expect(screen.getByTestId("gallery-range").textContent).toBe("10009–10032 of 10000+");
  });
});
