import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";
import { api } from "../../client";
import { errorMessage } from "../../client/errors";
import type { PromptStyle } from "../../client/types";
import { queryKeys, stylesQuery } from "../../lib/queries";

/** The signed-in user's saved prompt styles, and saving and deleting them. */
export interface StylesStore {
  list: readonly PromptStyle[];
  /** the list has arrived (a failed load leaves it false) */
  loaded: boolean;
  error: string | null;
  /** create or replace; answers an error message, or null when saved */
  save: (name: string, texts: { prompt: string; negative_prompt: string }) => Promise<string | null>;
  /** answers an error message, or null when deleted */
  remove: (name: string) => Promise<string | null>;
}

const byName = (a: PromptStyle, b: PromptStyle) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const NONE: readonly PromptStyle[] = [];

export function useStyles(): StylesStore {
  const queryClient = useQueryClient();
  const styles = useQuery(stylesQuery());

  // The API answers what it stored: the cached list takes it in place of reading the list again
  // (before the list has arrived, it is read again instead).
  const update = useCallback(
    (change: (list: readonly PromptStyle[]) => PromptStyle[]) => {
      if (queryClient.getQueryData(queryKeys.styles) === undefined) {
        void queryClient.invalidateQueries({ queryKey: queryKeys.styles });
      } else queryClient.setQueryData<PromptStyle[]>(queryKeys.styles, (old) => change(old ?? []));
    },
    [queryClient],
  );

  const save = useCallback<StylesStore["save"]>(
    async (name, texts) => {
      const { data, error: err, response } = await api.PUT("/api/v1/styles/{name}", {
        params: { path: { name } },
        body: texts,
      });
      if (!data) return errorMessage(err, `${response.status}`);
      update((old) => [...old.filter((s) => s.name !== data.name), data].sort(byName));
      return null;
    },
    [update],
  );

  const remove = useCallback<StylesStore["remove"]>(
    async (name) => {
      const { error: err, response } = await api.DELETE("/api/v1/styles/{name}", { params: { path: { name } } });
      if (!response.ok && response.status !== 404) return errorMessage(err, `${response.status}`);
      update((old) => old.filter((s) => s.name !== name));
      return null;
    },
    [update],
  );

  return {
    list: styles.data ?? NONE,
    loaded: styles.data !== undefined,
    error: styles.error?.message ?? null,
    save,
    remove,
  };
}
