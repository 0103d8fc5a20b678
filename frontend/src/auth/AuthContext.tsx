import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import { api, setCsrfToken, UNAUTHORIZED_EVENT } from "../client";
import { errorMessage } from "../client/errors";
import type { UserPublic } from "../client/types";

interface AuthValue {
  user: UserPublic | null;
  /** true until the first /auth/me answer */
  checking: boolean;
  /** resolves to an error message, or null on success */
  login: (username: string, password: string) => Promise<string | null>;
  logout: () => Promise<void>;
}

const AuthContext = createContext<AuthValue | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<UserPublic | null>(null);
  const [checking, setChecking] = useState(true);

  useEffect(() => {
    let cancelled = false;
    api
      .GET("/api/v1/auth/me")
      .then(({ data }) => {
        if (cancelled) return;
        setUser(data?.user ?? null);
        setCsrfToken(data?.csrf_token ?? null);
      })
      .catch(() => undefined)
      .finally(() => !cancelled && setChecking(false));
    const onUnauthorized = () => {
      setUser(null);
      setCsrfToken(null);
    };
    window.addEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
    return () => {
      cancelled = true;
      window.removeEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
    };
  }, []);

  const login = useCallback(async (username: string, password: string) => {
    try {
      const { data, error, response } = await api.POST("/api/v1/auth/login", {
        body: { username, password },
      });
      if (data) {
        setCsrfToken(data.csrf_token);
        setUser(data.user);
        return null;
      }
      return errorMessage(error, `${response.status} ${response.statusText}`.trim());
    } catch (e) {
      return errorMessage(e, "Network error");
    }
  }, []);

  const logout = useCallback(async () => {
    try {
      await api.POST("/api/v1/auth/logout");
    } finally {
      setCsrfToken(null);
      setUser(null);
    }
  }, []);

  const value = useMemo(() => ({ user, checking, login, logout }), [user, checking, login, logout]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const value = useContext(AuthContext);
  if (!value) throw new Error("useAuth outside AuthProvider");
  return value;
}
