import { useEffect, useState } from "react";
import { api } from "../../client";
import { errorMessage } from "../../client/errors";
import type { LoraInfo } from "../../client/types";

/** The LoRAs installed on the server (GET /api/v1/loras). */
export interface LorasStore {
  list: LoraInfo[];
  /** the list has arrived (a failed load leaves it false) */
  loaded: boolean;
  error: string | null;
}

export function useLoras(): LorasStore {
  const [state, setState] = useState<LorasStore>({ list: [], loaded: false, error: null });
  useEffect(() => {
    let cancelled = false;
    void api.GET("/api/v1/loras").then(({ data, error, response }) => {
      if (cancelled) return;
      if (data) setState({ list: data, loaded: true, error: null });
      else setState({ list: [], loaded: false, error: errorMessage(error, `${response.status}`) });
    });
    return () => {
      cancelled = true;
    };
  }, []);
  return state;
}
