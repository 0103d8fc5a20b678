import { deflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { isPng, latin1, pngChunks, pngParameters, readPngText } from "./png";

// Written by the backend's png_with_parameters (PIL): a tEXt "parameters" chunk for Latin-1
// text, an iTXt chunk otherwise, and a "difflab" tEXt chunk.
const LATIN1_PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAqXRFWHRwYXJhbWV0ZXJzAGEgcmVkIGNpcmNsZSwgb24gdGhlIGxlZnQ6IGJpZwpOZWdhdGl2ZSBwcm9tcHQ6IGJsdXJyeQpTdGVwczogMjUsIFNhbXBsZXI6IERQTSsrIDJNLCBTY2hlZHVsZSB0eXBlOiBLYXJyYXMsIENGRyBzY2FsZTogNy41LCBTZWVkOiAxLCBTaXplOiA2NHg0OCwgTW9kZWw6IGhvdXNlASUDvQAAABJ0RVh0ZGlmZmxhYgB7InNlZWQiOjF9XHVXRAAAABZJREFUeJxjPMHFxcDAwMTAwMDAwAAACzgA4BH01dYAAAAASUVORK5CYII=";
const UTF8_PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAArGlUWHRwYXJhbWV0ZXJzAAAAAABlaW4gS3JlaXMg4oKsIMO8IOe6ouiJsueahOWchgpOZWdhdGl2ZSBwcm9tcHQ6IGJsdXJyeQpTdGVwczogMjUsIFNhbXBsZXI6IERQTSsrIDJNLCBTY2hlZHVsZSB0eXBlOiBLYXJyYXMsIENGRyBzY2FsZTogNy41LCBTZWVkOiAxLCBTaXplOiA2NHg0OCwgTW9kZWw6IGhvdXNlxEuUwAAAABJ0RVh0ZGlmZmxhYgB7InNlZWQiOjF9XHVXRAAAABZJREFUeJxjPMHFxcDAwMTAwMDAwAAACzgA4BH01dYAAAAASUVORK5CYII=";
const PARAMS_LINE =
  "Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 1, Size: 64x48, Model: house";

const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, "base64"));
const ascii = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));

/** A PNG from the signature, the chunks given (CRC left zero: the reader does not check it) and IEND. */
function png(...chunks: [string, Uint8Array][]): Uint8Array {
  const parts: number[] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  for (const [type, data] of [...chunks, ["IEND", new Uint8Array()] as [string, Uint8Array]]) {
    const n = data.length;
    parts.push((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255, ...ascii(type), ...data, 0, 0, 0, 0);
  }
  return new Uint8Array(parts);
}
const cat = (...xs: Uint8Array[]) => new Uint8Array(xs.flatMap((x) => [...x]));

describe("PNG text chunks", () => {
  it("reads the tEXt parameters chunk a difflab image carries", async () => {
    const data = bytes(LATIN1_PNG);
    expect(isPng(data)).toBe(true);
    expect(pngChunks(data).map((c) => c.type)).toEqual(["IHDR", "tEXt", "tEXt", "IDAT", "IEND"]);
    const text = await readPngText(data);
    expect(text.map((c) => [c.type, c.keyword])).toEqual([
      ["tEXt", "parameters"],
      ["tEXt", "difflab"],
    ]);
    expect(await pngParameters(data)).toBe(`a red circle, on the left: big\nNegative prompt: blurry\n${PARAMS_LINE}`);
  });

  it("reads an iTXt chunk as UTF-8", async () => {
    expect(await pngParameters(bytes(UTF8_PNG))).toBe(`ein Kreis € ü 红色的圆\nNegative prompt: blurry\n${PARAMS_LINE}`);
  });

  it("reads tEXt as Latin-1 byte for byte, and compressed zTXt and iTXt", async () => {
    const high = new Uint8Array([0x80, 0x9f, 0xe9]); // windows-1252 would read € and Ÿ here
    expect(latin1(high)).toBe("\u0080\u009f\u00e9");
    const file = png(
      ["tEXt", cat(ascii("Comment"), new Uint8Array([0]), high)],
      ["zTXt", cat(ascii("parameters"), new Uint8Array([0, 0]), deflateSync(Buffer.from("zipped, latin1")))],
      [
        "iTXt",
        cat(ascii("Title"), new Uint8Array([0, 1, 0]), ascii("de"), new Uint8Array([0]), new Uint8Array([0]),
          deflateSync(Buffer.from("grün 红", "utf8"))),
      ],
      ["iTXt", cat(ascii("Author"), new Uint8Array([0, 0, 0, 0, 0]), new Uint8Array(Buffer.from("猫", "utf8")))],
    );
    expect(await readPngText(file)).toEqual([
      { type: "tEXt", keyword: "Comment", text: "\u0080\u009f\u00e9" },
      { type: "zTXt", keyword: "parameters", text: "zipped, latin1" },
      { type: "iTXt", keyword: "Title", text: "grün 红" },
      { type: "iTXt", keyword: "Author", text: "猫" },
    ]);
    expect(await pngParameters(file)).toBe("zipped, latin1");
  });

  it("answers null for other files, skips broken chunks and stops at a cut", async () => {
    expect(await pngParameters(ascii("GIF89a......"))).toBeNull();
    expect(() => pngChunks(ascii("not a png"))).toThrow(/not a PNG/);
    const broken = png(
      ["tEXt", ascii("no separator")],
      ["zTXt", cat(ascii("parameters"), new Uint8Array([0, 0]), ascii("not zlib"))],
      ["tEXt", cat(ascii("parameters"), new Uint8Array([0]), ascii("kept"))],
    );
    expect(await readPngText(broken)).toEqual([{ type: "tEXt", keyword: "parameters", text: "kept" }]);
    const full = bytes(LATIN1_PNG);
    const cut = full.subarray(0, 60); // inside the parameters chunk
    expect(pngChunks(cut).map((c) => c.type)).toEqual(["IHDR"]);
    expect(await pngParameters(cut)).toBeNull();
    expect(await pngParameters(png())).toBeNull();
  });
});
