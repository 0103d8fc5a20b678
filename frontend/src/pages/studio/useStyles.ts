import { useCallback, useEffect, useState } from "react";
import { api } from "../../client";
import { errorMessage } from "../../client/errors";
import type { PromptStyle } from "../../client/types";

/** The signed-in user's saved prompt styles, and saving and deleting them. */
export interface StylesStore {
  list: PromptStyle[];
  /** the list has arrived (a failed load leaves it false) */
  loaded: boolean;
  error: string | null;
  /** create or replace; answers an error message, or null when saved */
  save: (name: string, texts: { prompt: string; negative_prompt: string }) => Promise<string | null>;
  /** answers an error message, or null when deleted */
  remove: (name: string) => Promise<string | null>;
}

const byName = (a: PromptStyle, b: PromptStyle) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function useStyles(): StylesStore {
  const [list, setList] = useState<PromptStyle[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    void api.GET("/api/v1/styles").then(({ data, error: err, response }) => {
      if (cancelled) return;
      if (!data) {
        setError(errorMessage(err, `${response.status}`));
        return;
      }
      setList(data);
      setLoaded(true);
    });
    return () => {
      cancelled = true;
    };
  }, []);

  const save = useCallback<StylesStore["save"]>(async (name, texts) => {
    const { data, error: err, response } = await api.PUT("/api/v1/styles/{name}", {
      params: { path: { name } },
      body: texts,
    });
    if (!data) return errorMessage(err, `${response.status}`);
    setList((old) => [...old.filter((s) => s.name !== data.name), data].sort(byName));
    return null;
  }, []);

  const remove = useCallback<StylesStore["remove"]>(async (name) => {
    const { error: err, response } = await api.DELETE("/api/v1/styles/{name}", { params: { path: { name } } });
    if (!response.ok && response.status !== 404) return errorMessage(err, `${response.status}`);
    setList((old) => old.filter((s) => s.name !== name));
    return null;
  }, []);

  return { list, loaded, error, save, remove };
}
