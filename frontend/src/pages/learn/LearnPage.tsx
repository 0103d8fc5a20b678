import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { jobKindsQuery } from "../../lib/queries";
import { ForwardProcess } from "./ForwardProcess";
import { LabKinds } from "./LabKinds";
import { LossPanel } from "./LossPanel";
import { PipelineDiagram } from "./PipelineDiagram";
import { Probability } from "./Probability";

export function LearnPage() {
  const { t } = useTranslation();
  const kinds = useQuery(jobKindsQuery());
  return (
    <div className="page learn">
      <h1>{t("learn.title")}</h1>
      <p className="muted">{t("learn.intro")}</p>
      <nav className="toc">
        <a href="#pipeline">{t("learn.pipelineTitle")}</a>
        <a href="#forward">{t("learn.forwardTitle")}</a>
        <a href="#loss">{t("learn.lossTitle")}</a>
        <a href="#probability">{t("learn.probability.toc")}</a>
        <a href="#lab">{t("learn.labTitle")}</a>
      </nav>
      <PipelineDiagram />
      <ForwardProcess />
      <LossPanel kinds={kinds.data ?? []} />
      <Probability />
      <LabKinds kinds={kinds.data ?? []} />
    </div>
  );
}
