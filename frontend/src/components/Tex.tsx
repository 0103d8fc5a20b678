import katex from "katex";
import "katex/dist/katex.min.css";
import { useMemo } from "react";

/**
 * Typeset one of OUR OWN constant TeX strings. Never pass user input: the HTML KaTeX writes is
 * inserted as markup.
 */
export function Tex({ tex, block = false }: { tex: string; block?: boolean }) {
  const html = useMemo(
    () => katex.renderToString(tex, { displayMode: block, throwOnError: false, output: "html" }),
    [tex, block],
  );
  const Tag = block ? "div" : "span";
  return <Tag className={block ? "tex tex--block" : "tex"} dangerouslySetInnerHTML={{ __html: html }} />;
}
