import { test as base, expect, Page, BrowserContext } from "@playwright/test";

export type Role = "admin" | "operator" | "viewer";

export const users: Record<Role, { username: string; password: string; name: string }> = {
  admin: { username: "admin", password: "admin-dev-password", name: "Ada Admin" },
  operator: { username: "operator", password: "operator-dev-password", name: "Oscar Operator" },
  viewer: { username: "viewer", password: "viewer-dev-password", name: "Vera Viewer" },
};

/// Signs a browser context in through the BFF (the same server function the
/// login form posts to); the HttpOnly session cookie lands in the context.
export async function signIn(context: BrowserContext, baseURL: string, role: Role) {
  const u = users[role];
  const res = await context.request.post(`${baseURL}/api/auth/login`, {
    form: { username: u.username, password: u.password, next: "/" },
    headers: { origin: baseURL, accept: "application/json" },
    maxRedirects: 0,
  });
  expect(res.status(), await res.text()).toBeLessThan(400);
}

// Every page load is watched for console errors and CSP violations; a test
// fails if any occurred, except those it declares expected (`allowConsole`).
// `signedInAs` signs the context in before the test (null: anonymous).
export const test = base.extend<{
  problems: string[];
  allowConsole: RegExp[];
  signedInAs: Role | null;
}>({
  allowConsole: [[], { option: true }],
  signedInAs: ["admin", { option: true }],
  context: async ({ context, signedInAs, baseURL }, use) => {
    if (signedInAs) await signIn(context, baseURL!, signedInAs);
    await use(context);
  },
  problems: async ({ page, allowConsole }, use) => {
    const problems: string[] = [];
    const allowed = (t: string) => allowConsole.some((r) => r.test(t));
    page.on("console", (msg) => {
      if (msg.type() === "error" && !allowed(msg.text())) problems.push(`console: ${msg.text()}`);
    });
    page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
    await page.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) => {
        console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    await use(problems);
    expect(problems, problems.join("\n")).toEqual([]);
  },
});

export { expect };

export async function hydrated(page: Page) {
  await expect(page.locator("body[data-hydrated='true']")).toHaveCount(1);
}
