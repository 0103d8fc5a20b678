import { useTranslation } from "react-i18next";
import type { StudioMode } from "./settings";

/** "Send to img2img" and "Send to inpaint" for one image (the current result, a gallery image). */
export function SendButtons({ onSend }: { onSend: (mode: StudioMode) => void }) {
  const { t } = useTranslation();
  return (
    <span className="send-buttons">
      <button type="button" data-testid="send-img2img" onClick={() => onSend("img2img")}>
        {t("studio.sendImg2img")}
      </button>
      <button type="button" data-testid="send-inpaint" onClick={() => onSend("inpaint")}>
        {t("studio.sendInpaint")}
      </button>
    </span>
  );
}
