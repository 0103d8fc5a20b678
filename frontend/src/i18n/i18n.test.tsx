import { act, fireEvent, render, screen } from "@testing-library/react";
import { useTranslation } from "react-i18next";
import { afterEach, describe, expect, it } from "vitest";
import { en } from "./en";
import i18n, { initialLanguage, LANG_KEY } from "./index";
import { LanguageSwitch } from "./LanguageSwitch";
import { zh } from "./zh";

function Title() {
  const { t } = useTranslation();
  return <h1>{t("nav.studio")}</h1>;
}

describe("language switch", () => {
  afterEach(async () => {
    await act(() => i18n.changeLanguage("en"));
  });

  it("switches the UI to Simplified Chinese and remembers the choice", async () => {
    render(
      <>
        <LanguageSwitch />
        <Title />
      </>,
    );
    expect(screen.getByRole("heading").textContent).toBe("Studio");
    await act(async () => {
      fireEvent.change(screen.getByTestId("lang-switch"), { target: { value: "zh-CN" } });
    });
    expect(screen.getByRole("heading").textContent).toBe("创作");
    expect(localStorage.getItem(LANG_KEY)).toBe("zh-CN");
    expect(document.documentElement.lang).toBe("zh-CN");
    // the next visit starts in the remembered language
    expect(initialLanguage()).toBe("zh-CN");
  });

  it("has the same keys in both languages", () => {
    const keys = (o: object, p = ""): string[] =>
      Object.entries(o).flatMap(([k, v]) => (typeof v === "string" ? [p + k] : keys(v as object, `${p}${k}.`)));
    expect(keys(zh).sort()).toEqual(keys(en).sort());
  });
});
