import { useTranslation } from "react-i18next";
import { LANGUAGES, setLanguage, type LanguageCode } from "./index";

export function LanguageSwitch() {
  const { t, i18n } = useTranslation();
  return (
    <select
      className="lang-switch"
      data-testid="lang-switch"
      aria-label={t("nav.language")}
      value={i18n.language}
      onChange={(e) => void setLanguage(e.target.value as LanguageCode)}
    >
      {LANGUAGES.map((l) => (
        <option key={l.code} value={l.code}>
          {l.label}
        </option>
      ))}
    </select>
  );
}
