import { useTranslation } from "react-i18next";
import { formatWeight } from "./tokenWeights";

/** A token's prompt weight, ×1.3, shown only when it is not 1 (text/tokens.json `weights`). */
export function WeightBadge({ weight }: { weight: number | undefined | null }) {
  const { t } = useTranslation();
  const text = formatWeight(weight);
  if (!text) return null;
  return (
    <span
      className={weight! < 1 ? "token__weight token__weight--down" : "token__weight"}
      data-testid="token-weight"
      title={t("studio.tokenWeight", { weight: text })}
    >
      {text}
    </span>
  );
}
