/** A lab kind's formulas, grouped as model, loss, solution, update, then the run's numbers. */
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import { Tex } from "../../../components/Tex";
import { docsSection, learnAnchor, mathOf } from "./index";
import "./math.css";
import type { Formula, MathInput, Role } from "./types";

const ORDER: readonly Role[] = ["model", "loss", "solution", "update", "live"];

/** Learn-page sections a kind may point to besides its own, with their titles' i18n keys. */
const CONCEPT_TITLES: Record<string, string> = {
  pipeline: "learn.pipelineTitle",
  forward: "learn.forwardTitle",
  loss: "learn.lossTitle",
};

export function KindFormulas({ kind, input, live = true }: { kind: string; input: MathInput; live?: boolean }) {
  const { t } = useTranslation();
  const { id, math } = mathOf(kind);
  const formulas = math.formulas(input).filter((f) => live || f.role !== "live");
  const sorted = ORDER.flatMap((role) => formulas.filter((f) => f.role === role));
  if (sorted.length === 0) return <p className="muted small">{t("math.none")}</p>;
  return (
    <div className="math-formulas">
      {sorted.map((f, i) => (
        <FormulaRow key={`${f.role}-${f.id}-${i}`} formula={f} kindKey={id} />
      ))}
    </div>
  );
}

function FormulaRow({ formula: f, kindKey }: { formula: Formula; kindKey: string }) {
  const { t } = useTranslation();
  return (
    <div className={`math-row math-row--${f.role}`} data-role={f.role} data-formula={f.id}>
      <span className="chip math-row__role">{t(`math.role.${f.role}`)}</span>
      <div className="math-row__body">
        <Tex block tex={f.tex} />
        <p className="muted small">{t(f.note ?? `math.${kindKey}.${f.id}`, f.vars ?? {})}</p>
      </div>
    </div>
  );
}

/** Links to the concept on the learn page and to the kind's section of the docs. */
export function MathLinks({ kind }: { kind: string }) {
  const { t } = useTranslation();
  const { math, generic } = mathOf(kind);
  return (
    <p className="small math-links">
      <Link to={`/learn#${generic ? "lab" : learnAnchor(kind)}`} data-testid="math-learn-link">
        {t("math.learnLink")}
      </Link>
      {(math.concepts ?? []).map((c) => (
        <Link key={c} to={`/learn#${c}`}>
          {t(CONCEPT_TITLES[c] ?? "learn.title")}
        </Link>
      ))}
      <span className="muted">
        {t("math.docs")} <code data-testid="math-docs">{docsSection(kind)}</code>
      </span>
    </p>
  );
}
