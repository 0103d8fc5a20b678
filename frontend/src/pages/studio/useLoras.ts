import { useQuery } from "@tanstack/react-query";
import type { LoraInfo } from "../../client/types";
import { lorasQuery } from "../../lib/queries";

/** The LoRAs installed on the server (GET /api/v1/loras). */
export interface LorasStore {
  list: readonly LoraInfo[];
  /** the list has arrived (a failed load leaves it false) */
  loaded: boolean;
  error: string | null;
}

const NONE: readonly LoraInfo[] = [];

export function useLoras(): LorasStore {
  const loras = useQuery(lorasQuery());
  return { list: loras.data ?? NONE, loaded: loras.data !== undefined, error: loras.error?.message ?? null };
}
