import { test, expect, hydrated, users, signIn, Role } from "./fixtures";

test.describe("signed out", () => {
  test.use({ signedInAs: null, allowConsole: [/status of 401/] });

  test("pages send you to the login page and back after signing in", async ({ page, problems }) => {
    await page.goto("/tenants");
    await expect(page).toHaveURL(/\/login\?next=\/tenants$/);
    await hydrated(page);
    await expect(page.getByRole("navigation", { name: "Main" })).toHaveCount(0);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByTestId("sign-in").click();
    await expect(page.getByTestId("login-error")).toHaveText("invalid username or password");
    await page.getByLabel("Password").fill(users.admin.password);
    await page.getByTestId("sign-in").click();
    await expect(page).toHaveURL(/\/tenants$/);
    await expect(page.getByTestId("user-name")).toHaveText(users.admin.name);
    await expect(page.locator("table.data-table tbody tr")).toHaveCount(50);
    void problems;
  });

  test("the session cookie is HttpOnly and SameSite=Strict", async ({ page, context, baseURL, problems }) => {
    await signIn(context, baseURL!, "viewer");
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name.endsWith("control_session"));
    expect(session).toBeDefined();
    expect(session!.httpOnly).toBe(true);
    expect(session!.sameSite).toBe("Strict");
    await page.goto("/");
    await hydrated(page);
    expect(await page.evaluate(() => document.cookie)).not.toContain("control_session");
    void problems;
  });
});

// The form before or without hydration (a slow link, a fast typist): a
// plain form POST, answered with redirects, never a JSON body.
test.describe("without JavaScript", () => {
  test.use({ signedInAs: null, javaScriptEnabled: false });

  test("the login form signs in, and a wrong password shows the message", async ({ page, context }) => {
    await page.goto("/login?next=/tenants");
    await page.getByLabel("Username").fill("operator");
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByTestId("sign-in").click();
    await expect(page).toHaveURL(/\/login\?error=unauthenticated&next=%2Ftenants$/);
    await expect(page.getByTestId("login-error")).toHaveText("invalid username or password");
    expect((await context.cookies()).some((c) => c.name.endsWith("control_session"))).toBe(false);

    await page.getByLabel("Username").fill(users.operator.username);
    await page.getByLabel("Password").fill(users.operator.password);
    await page.getByTestId("sign-in").click();
    await expect(page).toHaveURL(/\/tenants$/);
    expect((await context.cookies()).some((c) => c.name.endsWith("control_session"))).toBe(true);
    await expect(page.getByTestId("sign-in")).toHaveCount(0);
  });
});

const navFor: Record<Role, { see: string[]; hidden: string[] }> = {
  admin: { see: ["Overview", "Tenants", "Audit Log", "Users", "Sessions", "Roles & Permissions"], hidden: [] },
  operator: { see: ["Overview", "Tenants", "Audit Log", "Users", "Sessions"], hidden: [] },
  viewer: { see: ["Overview", "Tenants", "Audit Log", "Settings"], hidden: ["Users", "Sessions", "Roles & Permissions"] },
};

for (const role of ["admin", "operator", "viewer"] as Role[]) {
  test.describe(`as ${role}`, () => {
    test.use({ signedInAs: role, allowConsole: [/status of 403/] });

    test(`${role} sees the pages and actions the role allows`, async ({ page, problems }) => {
      await page.goto("/");
      await hydrated(page);
      await expect(page.getByTestId("user-name")).toHaveText(users[role].name);
      const nav = page.getByRole("navigation", { name: "Main" });
      for (const t of navFor[role].see) await expect(nav.getByRole("link", { name: t, exact: true })).toBeVisible();
      for (const t of navFor[role].hidden) await expect(nav.getByRole("link", { name: t, exact: true })).toHaveCount(0);

      await page.goto("/sessions");
      await hydrated(page);
      if (role === "viewer") {
        await expect(page.getByText(/not allowed/)).toBeVisible();
        await expect(page.getByTestId("sessions-table")).toHaveCount(0);
      } else {
        await expect(page.getByTestId("sessions-table")).toBeVisible();
        const revoke = page.getByTestId("revoke-button");
        if (role === "admin") await expect(revoke.first()).toBeVisible();
        else await expect(revoke).toHaveCount(0);
      }
      await page.goto("/audit");
      await hydrated(page);
      await expect(page.getByTestId("audit-table")).toBeVisible();
      void problems;
    });
  });
}

test("an admin revokes a session, its owner is signed out, and the audit log shows it", async ({
  page,
  browser,
  baseURL,
  problems,
}) => {
  // The viewer works in a browser of their own.
  const viewerCtx = await browser.newContext({ baseURL });
  await signIn(viewerCtx, baseURL!, "viewer");
  const viewer = await viewerCtx.newPage();
  await viewer.goto("/tenants");
  await expect(viewer.getByTestId("user-name")).toHaveText(users.viewer.name);

  await page.goto("/sessions?user=u-viewer");
  await hydrated(page);
  const active = page.locator("tr[data-revoked='false']");
  await expect(active.first()).toBeVisible();
  const sessionId = await active.first().getAttribute("data-session");
  await page.locator(`tr[data-session='${sessionId}']`).getByTestId("revoke-button").click();
  await page.getByTestId("reason-input").fill("e2e: laptop lost");
  await page.getByTestId("confirm-button").click();
  await expect(page.locator(`tr[data-session='${sessionId}']`)).toHaveAttribute("data-revoked", "true");

  // The viewer's next page load goes to the login page. The open page may
  // already be navigating there by itself (its next request is refused), so
  // the load is made in a page of its own rather than racing that navigation.
  await viewer.close();
  const next = await viewerCtx.newPage();
  await next.goto("/tenants");
  await expect(next).toHaveURL(/\/login\?next=/);
  await viewerCtx.close();

  await page.goto(`/audit?action=iam.session.revoke`);
  await hydrated(page);
  const row = page.getByTestId("audit-row").first();
  await expect(row).toContainText("iam.session.revoke");
  await expect(row).toContainText(`session/${sessionId}`);
  await expect(row).toContainText("e2e: laptop lost");
  await row.click();
  await expect(page.getByTestId("audit-detail")).toContainText("u-admin");
  await page.keyboard.press("Escape");
  await page.getByTestId("verify-button").click();
  await expect(page.getByTestId("audit-verdict")).toHaveAttribute("data-result", "intact");
  await expect(page.getByTestId("audit-verdict")).toContainText(/Chain intact: \d+ events/);
  void problems;
});

test("signing out ends the session", async ({ page, problems }) => {
  await page.goto("/settings");
  await hydrated(page);
  await page.getByTestId("sign-out").click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login\?next=\/$/);
  void problems;
});

test("an admin assigns and removes a role with a reason; Roles and the Audit Log follow", async ({ page, problems }) => {
  await page.goto("/users");
  await hydrated(page);
  const row = page.locator("tr[data-user='viewer']");
  await row.getByTestId("assign-button").click();
  const assign = page.locator("#assign-role");
  await assign.getByTestId("role-select").selectOption("iam-admin");
  await assign.getByTestId("reason-input").fill("e2e: on call this week");
  await assign.getByTestId("confirm-button").click();
  await expect(row).toContainText("iam-admin");

  await page.goto("/roles");
  await hydrated(page);
  await expect(page.locator("li[data-role='iam-admin']").getByTestId("role-holders")).toContainText("viewer");

  await page.goto("/users");
  await hydrated(page);
  await row.getByTestId("remove-role-button").click();
  const remove = page.locator("#remove-role");
  await remove.getByTestId("role-select").selectOption("iam-admin");
  await remove.getByTestId("reason-input").fill("e2e: rota over");
  await remove.getByTestId("confirm-button").click();
  await expect(row).not.toContainText("iam-admin");

  await page.goto("/audit?action=iam.role.");
  await hydrated(page);
  const rows = page.getByTestId("audit-row");
  await expect(rows.first()).toContainText("iam.role.unassign");
  await expect(rows.first()).toContainText("e2e: rota over");
  await expect(rows.nth(1)).toContainText("iam.role.assign");
  void problems;
});
