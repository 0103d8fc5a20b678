import { describe, expect, it } from "vitest";
import {
  filesFromDrop,
  filesFromList,
  formatBytes,
  isSkipped,
  MAX_UPLOAD_BYTES,
  planUpload,
  suggestName,
  walkEntry,
  type PickedFile,
} from "./files";

/** A dropped file as the File and Directory Entries API gives it. */
function fileEntry(path: string, content = "x"): FileSystemEntry {
  const name = path.split("/").pop()!;
  return {
    isFile: true,
    isDirectory: false,
    name,
    fullPath: `/${path}`,
    file: (ok: (f: File) => void) => setTimeout(() => ok(new File([content], name))),
  } as unknown as FileSystemEntry;
}

/** A dropped folder whose reader answers `batch` entries at a time, then an empty batch. */
function dirEntry(path: string, children: FileSystemEntry[], batch = 2): FileSystemEntry {
  return {
    isFile: false,
    isDirectory: true,
    name: path.split("/").pop()!,
    fullPath: `/${path}`,
    createReader: () => {
      let at = 0;
      return {
        readEntries: (ok: (entries: FileSystemEntry[]) => void) => {
          const next = children.slice(at, at + batch);
          at += batch;
          setTimeout(() => ok(next));
        },
      };
    },
  } as unknown as FileSystemEntry;
}

function drop(entries: (FileSystemEntry | null)[], files: File[] = []) {
  return {
    items: entries.map((e) => ({ kind: "file", webkitGetAsEntry: () => e })) as unknown as DataTransferItemList,
    files: files as unknown as FileList,
  };
}

const picked = (path: string, size = 1): PickedFile => ({ path, file: new File(["x".repeat(size)], path.split("/").pop()!) });

describe("dataset upload files", () => {
  it("walks a dropped folder, every batch of every subfolder, keeping paths inside it", async () => {
    const cats = dirEntry("cats", [
      fileEntry("cats/metadata.jsonl"),
      fileEntry("cats/a.png"),
      fileEntry("cats/b.png"),
      dirEntry("cats/more", [fileEntry("cats/more/c.png"), fileEntry("cats/more/c.txt")]),
      fileEntry("cats/d.png"),
    ]);
    const files = await filesFromDrop(drop([cats]));
    expect(files.map((f) => f.path).sort()).toEqual([
      "cats/a.png",
      "cats/b.png",
      "cats/d.png",
      "cats/metadata.jsonl",
      "cats/more/c.png",
      "cats/more/c.txt",
    ]);
    expect(files.every((f) => f.file instanceof File)).toBe(true);
  });

  it("takes a dropped zip (a file entry) by its name, and the file list when entries are not offered", async () => {
    expect((await filesFromDrop(drop([fileEntry("set.zip")]))).map((f) => f.path)).toEqual(["set.zip"]);
    const plain = new File(["z"], "set.zip");
    const noEntries = { items: [{ kind: "file" }] as unknown as DataTransferItemList, files: [plain] as unknown as FileList };
    expect((await filesFromDrop(noEntries)).map((f) => f.path)).toEqual(["set.zip"]);
    // a browser without entries for some item: the plain list, not a partial walk
    expect((await filesFromDrop(drop([null], [plain]))).map((f) => f.path)).toEqual(["set.zip"]);
  });

  it("names picked files by their path in the chosen folder (webkitRelativePath), else by name", async () => {
    const inFolder = new File(["a"], "a.png");
    Object.defineProperty(inFolder, "webkitRelativePath", { value: "cats/sub/a.png" });
    const loose = new File(["b"], "b.zip");
    expect(filesFromList([inFolder, loose]).map((f) => f.path)).toEqual(["cats/sub/a.png", "b.zip"]);
    expect(await walkEntry(fileEntry("x.png"))).toHaveLength(1);
  });

  it("leaves out what desktops and archivers add, and hidden files", () => {
    for (const p of ["cats/.DS_Store", "__MACOSX/cats/a.png", "cats/.git/config", ".hidden.png", "cats/Thumbs.db"])
      expect(isSkipped(p), p).toBe(true);
    for (const p of ["cats/a.png", "cats/metadata.jsonl", "a.b.png"]) expect(isSkipped(p), p).toBe(false);
    const plan = planUpload([picked("cats/a.png", 10), picked("cats/.DS_Store", 5), picked("cats/a.txt", 3)]);
    expect(plan).toMatchObject({ skipped: 1, bytes: 13, zip: false, problem: null });
    expect(plan.files.map((f) => f.path)).toEqual(["cats/a.png", "cats/a.txt"]);
  });

  it("says why a choice cannot be uploaded", () => {
    expect(planUpload([]).problem).toBe("empty");
    expect(planUpload([picked("cats/.DS_Store")]).problem).toBe("empty");
    expect(planUpload([picked("set.zip")])).toMatchObject({ zip: true, problem: null });
    expect(planUpload([picked("set.zip"), picked("a.png")]).problem).toBe("zipMixed");
    expect(planUpload([picked("cats/a.txt")]).problem).toBe("noImages");
    const huge = { path: "big.zip", file: { size: MAX_UPLOAD_BYTES + 1, name: "big.zip" } as File };
    expect(planUpload([huge]).problem).toBe("tooLarge");
  });

  it("suggests a dataset name from the folder or the zip", () => {
    expect(suggestName("My Cats/a.png")).toBe("my-cats");
    expect(suggestName("Shapes_v2.ZIP")).toBe("shapes_v2");
    expect(suggestName("a.png")).toBe("");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(2 * 2 ** 30)).toBe("2 GB");
  });
});
