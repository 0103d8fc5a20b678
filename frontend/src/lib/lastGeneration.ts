/** The job id of the newest generation started here, so the Learn page can show its data. */
const KEY = "difflab.lastGenerationJob";

export function rememberGeneration(jobId: string): void {
  try {
    localStorage.setItem(KEY, jobId);
  } catch {
    // not essential
  }
}

export function lastGeneration(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}
