/**
 * The users (admins only): each one's role (admin or learner) and whether they may sign in, and a
 * form to add one. Users are deactivated, never deleted; the API refuses (409) to leave no admin.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, type paths } from "../../client";
import { errorMessage, fieldErrors } from "../../client/errors";
import { formatDateTime } from "../../lib/format";
import { queryKeys, usersQuery } from "../../lib/queries";
import "./admin.css";

type UserRow = paths["/api/v1/users"]["get"]["responses"][200]["content"]["application/json"]["data"][number];
export type Role = UserRow["role"];
export const ROLES: readonly Role[] = ["learner", "admin"];

function RoleSelect({ value, onChange, testId, id }: { value: Role; onChange: (role: Role) => void; testId: string; id?: string }) {
  const { t } = useTranslation();
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.target.value as Role)} data-testid={testId}>
      {ROLES.map((r) => (
        <option key={r} value={r}>
          {t(`roles.${r}`)}
        </option>
      ))}
    </select>
  );
}

function AddUser({ onAdded }: { onAdded: () => void }) {
  const { t } = useTranslation();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("learner");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const add = useMutation({
    mutationFn: (body: { username: string; password: string; role: Role }) => api.POST("/api/v1/users", { body }),
    onSuccess: ({ data, error, response }) => {
      if (data) {
        setUsername("");
        setPassword("");
        setRole("learner");
        onAdded();
      } else if (response.status === 422) {
        const fe = fieldErrors(error);
        setErrors(Object.keys(fe).length ? fe : { "": errorMessage(error) });
      } else setErrors({ "": errorMessage(error, `${response.status} ${response.statusText}`) });
    },
    onError: (err) => setErrors({ "": errorMessage(err) }),
  });
  const busy = add.isPending;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setErrors({});
    add.mutate({ username, password, role });
  };

  const fieldError = (name: string) =>
    errors[name] && (
      <small className="field__error" data-testid="field-error" role="alert">
        {errors[name]}
      </small>
    );
  return (
    <form className="toolbar users__add" onSubmit={submit} data-testid="add-user" noValidate>
      <div className={errors.username ? "field field--error" : "field"} data-field="username">
        <label htmlFor="new-user-name">{t("login.username")}</label>
        <input id="new-user-name" value={username} autoComplete="off" onChange={(e) => setUsername(e.target.value)} />
        {fieldError("username")}
      </div>
      <div className={errors.password ? "field field--error" : "field"} data-field="password">
        <label htmlFor="new-user-password">{t("login.password")}</label>
        <input
          id="new-user-password"
          type="password"
          value={password}
          autoComplete="new-password"
          onChange={(e) => setPassword(e.target.value)}
        />
        {fieldError("password")}
      </div>
      <div className="field" data-field="role">
        <label htmlFor="new-user-role">{t("admin.role")}</label>
        <RoleSelect id="new-user-role" value={role} onChange={setRole} testId="new-user-role" />
      </div>
      <button type="submit" className="primary" disabled={busy || !username || !password} data-testid="add-user-submit">
        {t("admin.addUser")}
      </button>
      {errors[""] && (
        <p className="error" role="alert">
          {errors[""]}
        </p>
      )}
    </form>
  );
}

export function UsersPanel() {
  const { t, i18n } = useTranslation();
  const [message, setMessage] = useState<string | null>(null);
  const queryClient = useQueryClient();
  const users = useQuery(usersQuery());
  const reload = () => queryClient.invalidateQueries({ queryKey: queryKeys.users });

  const change = useMutation({
    mutationFn: async ({ user, body }: { user: UserRow; body: { role?: Role; is_active?: boolean } }) => {
      const { error, response } = await api.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: user.id } }, body });
      return error ? errorMessage(error, `${response.status} ${response.statusText}`) : null;
    },
    onSettled: (refused, failure) => {
      setMessage(failure ? errorMessage(failure) : (refused ?? null));
      void reload(); // refused (the last admin): the row shows what the server kept
    },
  });

  return (
    <section data-testid="users">
      <h2>{t("admin.users")}</h2>
      <p className="muted small">{t("admin.rolesHelp")}</p>
      {users.error && <p className="error">{users.error.message}</p>}
      {message && (
        <p className="error" role="alert" data-testid="users-error">
          {message}
        </p>
      )}
      {users.data && (
        <div className="table-wrap">
          <table className="table" data-testid="users-table">
            <thead>
              <tr>
                <th>{t("login.username")}</th>
                <th>{t("admin.role")}</th>
                <th>{t("admin.active")}</th>
                <th>{t("admin.created")}</th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <tr key={u.id} data-testid="user-row" data-user={u.username}>
                  <td>{u.username}</td>
                  <td>
                    <RoleSelect value={u.role} onChange={(role) => change.mutate({ user: u, body: { role } })} testId="user-role" />
                  </td>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={t("admin.active")}
                      checked={u.is_active}
                      onChange={(e) => change.mutate({ user: u, body: { is_active: e.target.checked } })}
                      data-testid="user-active"
                    />
                  </td>
                  <td className="nowrap">{formatDateTime(u.created_at, i18n.language)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <AddUser onAdded={() => void reload()} />
    </section>
  );
}
