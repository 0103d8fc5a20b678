/**
 * Text chunks of a PNG file, read in the browser: tEXt (Latin-1), iTXt (UTF-8, plain or
 * zlib-compressed) and zTXt (zlib, Latin-1). AUTOMATIC1111 and difflab store the generation's
 * infotext in a "parameters" chunk (tEXt for Latin-1 text, iTXt otherwise).
 * Layout: an 8-byte signature, then chunks of length (u32 BE), type (4 ASCII), data, CRC.
 */

export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export interface PngTextChunk {
  type: "tEXt" | "iTXt" | "zTXt";
  keyword: string;
  text: string;
}

/** A chunk as found: its type and a view of its data (no copy). */
export interface PngChunk {
  type: string;
  data: Uint8Array;
}

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Every chunk up to IEND; a file cut short ends the list where it breaks (no throw). */
export function pngChunks(bytes: Uint8Array): PngChunk[] {
  if (!isPng(bytes)) throw new Error("not a PNG file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: PngChunk[] = [];
  let pos = 8;
  while (pos + 8 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const start = pos + 8;
    if (start + length + 4 > bytes.length) break; // truncated
    out.push({ type, data: bytes.subarray(start, start + length) });
    if (type === "IEND") break;
    pos = start + length + 4;
  }
  return out;
}

/** Latin-1, byte for byte (TextDecoder's "latin1" is windows-1252, which differs at 0x80-0x9f). */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

/** zlib-wrapped deflate (the PNG text chunks' compression method 0); null where the browser can't. */
async function inflate(data: Uint8Array): Promise<Uint8Array | null> {
  if (typeof DecompressionStream === "undefined") return null;
  try {
    const ds = new DecompressionStream("deflate");
    const writer = ds.writable.getWriter();
    // a corrupt stream rejects these too; the read below reports it once
    writer.write(data as Uint8Array<ArrayBuffer>).catch(() => undefined);
    writer.close().catch(() => undefined);
    const reader = ds.readable.getReader();
    const parts: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      size += value.length;
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  } catch {
    return null; // corrupt data: the chunk is skipped
  }
}

function nul(data: Uint8Array, from: number): number {
  const i = data.indexOf(0, from);
  return i < 0 ? data.length : i;
}

/** One text chunk decoded; null for a chunk that is malformed or compressed with an unknown method. */
export async function decodeTextChunk(chunk: PngChunk): Promise<PngTextChunk | null> {
  const { type, data } = chunk;
  const k = nul(data, 0);
  if (k >= data.length) return null; // no keyword separator
  const keyword = latin1(data.subarray(0, k));
  if (type === "tEXt") return { type, keyword, text: latin1(data.subarray(k + 1)) };
  if (type === "zTXt") {
    if (data[k + 1] !== 0) return null;
    const raw = await inflate(data.subarray(k + 2));
    return raw ? { type, keyword, text: latin1(raw) } : null;
  }
  if (type === "iTXt") {
    const compressed = data[k + 1] === 1;
    if (compressed && data[k + 2] !== 0) return null;
    const lang = nul(data, k + 3);
    const translated = nul(data, lang + 1);
    if (translated >= data.length) return null;
    let body: Uint8Array | null = data.subarray(translated + 1);
    if (compressed) body = await inflate(body);
    return body ? { type, keyword, text: new TextDecoder("utf-8").decode(body) } : null;
  }
  return null;
}

/** All text chunks of a PNG, in file order. Throws for bytes that are not a PNG. */
export async function readPngText(bytes: Uint8Array): Promise<PngTextChunk[]> {
  const chunks = pngChunks(bytes).filter((c) => c.type === "tEXt" || c.type === "iTXt" || c.type === "zTXt");
  const decoded = await Promise.all(chunks.map(decodeTextChunk));
  return decoded.filter((c): c is PngTextChunk => c !== null);
}

/** The A1111 "parameters" infotext of a PNG, or null (not a PNG, or no such chunk). */
export async function pngParameters(bytes: Uint8Array): Promise<string | null> {
  if (!isPng(bytes)) return null;
  const found = (await readPngText(bytes)).find((c) => c.keyword === "parameters");
  return found?.text ?? null;
}
