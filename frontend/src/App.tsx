import { useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useEffect, type ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { Navigate, NavLink, Route, Routes, useLocation } from "react-router-dom";
import { useAuth } from "./auth/AuthContext";
import { LoginPage } from "./auth/LoginPage";
import { LanguageSwitch } from "./i18n/LanguageSwitch";
import { StudioPage } from "./pages/studio/StudioPage";
import { RunsPage } from "./pages/train/RunsPage";
import { RunPage } from "./pages/train/RunPage";

// KaTeX, the admin forms and the datasets pages load when first visited.
const AdminPage = lazy(() => import("./pages/admin/AdminPage").then((m) => ({ default: m.AdminPage })));
const DatasetsPage = lazy(() => import("./pages/datasets/DatasetsPage").then((m) => ({ default: m.DatasetsPage })));
const DatasetPage = lazy(() => import("./pages/datasets/DatasetPage").then((m) => ({ default: m.DatasetPage })));
const LearnPage = lazy(() => import("./pages/learn/LearnPage").then((m) => ({ default: m.LearnPage })));

function RequireUser({ children, admin = false }: { children: ReactNode; admin?: boolean }) {
  const { user, checking } = useAuth();
  const location = useLocation();
  const { t } = useTranslation();
  if (checking) return <p className="muted page">{t("common.loading")}</p>;
  if (!user) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  if (admin && user.role !== "admin") return <p className="page error">{t("admin.forbidden")}</p>;
  return <Suspense fallback={<p className="muted page">{t("common.loading")}</p>}>{children}</Suspense>;
}

function Header() {
  const { t } = useTranslation();
  const { user, logout } = useAuth();
  return (
    <header className="topbar">
      <NavLink to="/studio" className="brand">
        difflab
      </NavLink>
      {user && (
        <nav className="topbar__nav">
          <NavLink to="/studio" data-testid="nav-studio">
            {t("nav.studio")}
          </NavLink>
          <NavLink to="/train" data-testid="nav-train">
            {t("nav.train")}
          </NavLink>
          <NavLink to="/datasets" data-testid="nav-datasets">
            {t("nav.datasets")}
          </NavLink>
          {user.role === "admin" && (
            <NavLink to="/admin" data-testid="nav-admin">
              {t("nav.admin")}
            </NavLink>
          )}
          <NavLink to="/learn" data-testid="nav-learn">
            {t("nav.learn")}
          </NavLink>
        </nav>
      )}
      <div className="topbar__right">
        <LanguageSwitch />
        {user && (
          <>
            <span className="topbar__user" title={user.role}>
              {user.username}
            </span>
            <button type="button" className="link" data-testid="logout" onClick={() => void logout()}>
              {t("nav.logout")}
            </button>
          </>
        )}
      </div>
    </header>
  );
}

export function App() {
  // signed out (or the session expired): nothing cached for one user is shown to the next
  const { user } = useAuth();
  const queryClient = useQueryClient();
  useEffect(() => {
    if (!user) queryClient.clear();
  }, [user, queryClient]);
  return (
    <div className="app">
      <Header />
      <main>
        <Routes>
          <Route path="/login" element={<LoginPage />} />
          <Route path="/" element={<Navigate to="/studio" replace />} />
          <Route
            path="/studio"
            element={
              <RequireUser>
                <StudioPage />
              </RequireUser>
            }
          />
          <Route
            path="/train"
            element={
              <RequireUser>
                <RunsPage />
              </RequireUser>
            }
          />
          <Route
            path="/train/:id"
            element={
              <RequireUser>
                <RunPage />
              </RequireUser>
            }
          />
          <Route
            path="/datasets"
            element={
              <RequireUser>
                <DatasetsPage />
              </RequireUser>
            }
          />
          <Route
            path="/datasets/:name"
            element={
              <RequireUser>
                <DatasetPage />
              </RequireUser>
            }
          />
          <Route
            path="/admin"
            element={
              <RequireUser admin>
                <AdminPage />
              </RequireUser>
            }
          />
          <Route
            path="/learn"
            element={
              <RequireUser>
                <LearnPage />
              </RequireUser>
            }
          />
          <Route path="*" element={<Navigate to="/studio" replace />} />
        </Routes>
      </main>
    </div>
  );
}
