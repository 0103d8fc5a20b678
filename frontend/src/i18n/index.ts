import i18n from "i18next";
import { initReactI18next } from "react-i18next";
import { en } from "./en";
import { zh } from "./zh";

export const LANG_KEY = "difflab.lang";
export const LANGUAGES = [
  { code: "en", label: "English" },
  { code: "zh-CN", label: "简体中文" },
] as const;
export type LanguageCode = (typeof LANGUAGES)[number]["code"];

function storedLanguage(): LanguageCode | null {
  try {
    const v = localStorage.getItem(LANG_KEY);
    return LANGUAGES.some((l) => l.code === v) ? (v as LanguageCode) : null;
  } catch {
    return null;
  }
}

/** The stored choice, else the browser's language (any zh* -> Simplified Chinese), else English. */
export function initialLanguage(): LanguageCode {
  const stored = storedLanguage();
  if (stored) return stored;
  const nav = typeof navigator !== "undefined" ? navigator.language : "en";
  return nav.toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

/** Switch the UI language and remember the choice. */
export function setLanguage(code: LanguageCode): Promise<unknown> {
  try {
    localStorage.setItem(LANG_KEY, code);
  } catch {
    // storage may be unavailable (private mode); the switch still applies to this page
  }
  return i18n.changeLanguage(code);
}

void i18n.use(initReactI18next).init({
  resources: { en: { translation: en }, "zh-CN": { translation: zh } },
  lng: initialLanguage(),
  fallbackLng: "en",
  interpolation: { escapeValue: false }, // React escapes what it renders
  returnNull: false,
});

i18n.on("languageChanged", (lng) => {
  if (typeof document !== "undefined") document.documentElement.lang = lng;
});
if (typeof document !== "undefined") document.documentElement.lang = i18n.language;

export default i18n;
