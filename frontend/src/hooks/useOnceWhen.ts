import { useEffect, useState } from "react";

/** Call `callback` once, the first time `condition` is true (e.g. tell the page a job ended so it
 * refreshes the gallery); the callback may change identity between renders. */
export function useOnceWhen(condition: boolean, callback: (() => void) | undefined): void {
  const [done, setDone] = useState(false);
  useEffect(() => {
    if (condition && !done) {
      setDone(true);
      callback?.();
    }
  }, [condition, done, callback]);
}
