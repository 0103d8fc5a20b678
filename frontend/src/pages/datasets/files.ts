/**
 * The files of a dataset upload, picked or dropped: a folder (walked, each file keeping its path
 * inside the folder, which becomes its multipart filename) or one .zip. What desktops and
 * archivers add beside the images (.DS_Store, __MACOSX/, hidden files) is left out here, as the
 * server would skip or refuse it anyway.
 */
import type { UploadFile } from "../../client";

export interface PickedFile extends UploadFile {
  file: File;
}

/** The server's cap on one upload's body (config max_dataset_upload_bytes, default 2 GiB). */
export const MAX_UPLOAD_BYTES = 2 * 2 ** 30;
/** The server's cap on the files of one upload. */
export const MAX_UPLOAD_FILES = 20_000;
const IMAGE = /\.(png|jpe?g|webp)$/i;
const JUNK_DIRS = new Set(["__MACOSX"]);
const JUNK_FILES = new Set([".DS_Store", "Thumbs.db", "desktop.ini"]);

/** The path of a picked file: its path in the chosen folder, else its name. */
function pathOf(file: File): string {
  return file.webkitRelativePath || file.name;
}

/** Files from an <input type=file> (with webkitdirectory: each with its webkitRelativePath). */
export function filesFromList(list: FileList | readonly File[] | null | undefined): PickedFile[] {
  return Array.from(list ?? []).map((file) => ({ file, path: pathOf(file) }));
}

/** Every entry of a directory: readEntries answers in batches (100 in Chrome) until an empty one. */
async function readAll(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const out: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return out;
    out.push(...batch);
  }
}

/** A dropped entry's files, recursively; a path is the entry's fullPath without its leading "/". */
export async function walkEntry(entry: FileSystemEntry): Promise<PickedFile[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    return [{ file, path: entry.fullPath.replace(/^\/+/, "") || file.name }];
  }
  if (!entry.isDirectory) return [];
  const children = await readAll(entry as FileSystemDirectoryEntry);
  const nested = await Promise.all(children.map(walkEntry));
  return nested.flat();
}

/**
 * The files of a drop: folders walked through DataTransferItem.webkitGetAsEntry, else the plain
 * file list. The entries are taken before the first await: a DataTransfer is emptied once its
 * drop handler returns.
 */
export function filesFromDrop(dt: Pick<DataTransfer, "items" | "files">): Promise<PickedFile[]> {
  const items = Array.from(dt.items ?? []).filter((i) => i.kind === "file");
  const entries = items.map((i) => (typeof i.webkitGetAsEntry === "function" ? i.webkitGetAsEntry() : null));
  if (entries.length > 0 && entries.every((e) => e != null)) {
    return Promise.all(entries.map((e) => walkEntry(e!))).then((lists) => lists.flat());
  }
  return Promise.resolve(filesFromList(dt.files));
}

/** Left out of an upload: archivers' and desktops' extras and hidden files or folders. */
export function isSkipped(path: string): boolean {
  const parts = path.split("/").filter(Boolean);
  const last = parts[parts.length - 1] ?? "";
  return parts.some((p) => JUNK_DIRS.has(p) || p.startsWith(".")) || JUNK_FILES.has(last);
}

export type UploadProblem = "empty" | "zipMixed" | "noImages" | "tooLarge" | "tooMany";

export interface UploadPlan {
  files: PickedFile[];
  /** files left out (isSkipped) */
  skipped: number;
  bytes: number;
  /** one .zip */
  zip: boolean;
  /** why it cannot be sent, if it cannot */
  problem: UploadProblem | null;
}

/** What an upload of these files would send, and whether the server could take it. */
export function planUpload(picked: readonly PickedFile[]): UploadPlan {
  const files = picked.filter((f) => !isSkipped(f.path));
  const bytes = files.reduce((sum, f) => sum + f.file.size, 0);
  const zips = files.filter((f) => /\.zip$/i.test(f.path));
  const zip = zips.length === 1 && files.length === 1;
  let problem: UploadProblem | null = null;
  if (files.length === 0) problem = "empty";
  else if (zips.length > 0 && !zip) problem = "zipMixed";
  else if (!zip && !files.some((f) => IMAGE.test(f.path))) problem = "noImages";
  else if (files.length > MAX_UPLOAD_FILES) problem = "tooMany";
  else if (bytes > MAX_UPLOAD_BYTES) problem = "tooLarge";
  return { files, skipped: picked.length - files.length, bytes, zip, problem };
}

/**
 * A dataset name from a folder's or a zip's name, as a lowercase slug the API takes; "" for a
 * loose file (no folder to name it after).
 */
export function suggestName(path: string): string {
  const parts = path.split("/").filter(Boolean);
  const top = parts[0] ?? "";
  if (parts.length < 2 && !/\.zip$/i.test(top)) return "";
  const stem = top.replace(/\.zip$/i, "");
  return stem
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/^[-_]+|[-]+$/g, "")
    .slice(0, 64);
}

/** The API's rule for a dataset name (uploads.check_name). */
export const DATASET_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** 1536 -> "1.5 KB" (powers of 1024, as the server's limits are). */
export function formatBytes(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v >= 100 ? Math.round(v) : Number(v.toFixed(1))} ${units[i]}`;
}
