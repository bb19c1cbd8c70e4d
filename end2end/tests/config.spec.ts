import { test, expect, hydrated } from "./fixtures";

// A document that does not exist yet answers 404 to the browser's read
// (the flags document on a fresh data dir, opened by client-side
// navigation); that is the "New document" state, not a failure.
test.use({ allowConsole: [/status of 404/] });

const FLAGS = "/config?doc=flags/control";

/// Waits for the job page the confirmation navigated to and for the job to succeed.
async function jobSucceeds(page: any) {
  await expect(page).toHaveURL(/\/jobs\/job_[0-9a-f]{32}$/);
  await expect(page.getByTestId("job-detail").getByTestId("job-state").first()).toHaveAttribute("data-state", "succeeded", { timeout: 60_000 });
}

/// Opens a document by server render (its editor is ready once hydrated).
async function openDoc(page: any, href: string) {
  await page.goto(href);
  await hydrated(page);
  await expect(page.getByTestId("config-editor")).toBeVisible();
}

/// Lifts a pin an earlier run left, so applies are allowed.
async function unpinIfPinned(page: any, reason: string) {
  const pinned = page.locator("[data-testid='config-pinned'][data-pinned='true']");
  if ((await pinned.count()) === 0) return;
  await page.getByTestId("config-unpin").click();
  await page.getByTestId("reason-input").fill(reason);
  await page.getByTestId("confirm-button").click();
  await expect(page.locator("[data-testid='config-pinned'][data-pinned='false']")).toBeVisible();
}

/// Edits the open document to `text`, plans it (unblocked), applies it with `reason`.
async function apply(page: any, text: string, reason: string) {
  await page.getByTestId("config-editor").fill(text);
  await page.getByTestId("config-plan").click();
  const result = page.getByTestId("config-plan-result");
  await expect(result.getByTestId("plan")).toHaveAttribute("data-blocked", "false");
  await expect(result.getByTestId("plan-gates").locator("tr[data-gate='gate_config_valid']")).toHaveAttribute("data-pass", "true");
  await expect(page.getByTestId("config-apply")).toBeEnabled();
  await page.getByTestId("config-apply").click();
  await page.getByTestId("reason-input").fill(reason);
  await page.getByTestId("confirm-button").click();
  await jobSucceeds(page);
}

test("routing: a bad endpoint is reported at its line, the fixed text validates clean", async ({ page, problems }) => {
  await page.goto("/config");
  await hydrated(page);
  await page.locator("[data-testid='config-table'] tr[data-doc='routing/routing@platform'] a").first().click();
  await expect(page).toHaveURL(/\/config\?doc=routing\/routing$/);
  const editor = page.getByTestId("config-editor");
  await expect(editor).toBeVisible();
  const original = await editor.inputValue();
  const line = original.split("\n").findIndex((l: string) => l.includes("http://")) + 1;
  expect(line, "the routing document has an http:// endpoint").toBeGreaterThan(0);

  await editor.fill(original.replace("http://", "ftp://nope"));
  await page.getByTestId("config-validate").click();
  const issue = page.getByTestId("config-issues").locator("[data-code='malformed_url']").first();
  await expect(issue).toHaveAttribute("data-line", String(line));
  await expect(issue).toContainText(`line ${line} · malformed_url`);
  await expect(page.locator(`[data-testid='config-gutter'] [data-line='${line}']`)).toHaveAttribute("data-issue", "true");

  // Editing drops the verdict; the original text is valid again.
  await editor.fill(original);
  await expect(page.getByTestId("config-issues")).toHaveCount(0);
  await page.getByTestId("config-validate").click();
  await expect(page.getByTestId("config-valid")).toBeVisible();
  await expect(page.locator("[data-testid='config-gutter'] [data-issue='true']")).toHaveCount(0);
  void problems;
});

test("flags: apply a banner, see it in history and diff, roll back: the document is pinned", async ({ page, problems }) => {
  test.setTimeout(180_000);
  // Reachable before it exists: "New document" on the Config page.
  await page.goto("/config?domain=flags");
  await hydrated(page);
  const fresh = page.getByTestId("config-new-flags");
  const row = page.locator("[data-testid='config-table'] tr[data-doc='flags/control@platform'] a").first();
  await expect(fresh.or(row)).toBeVisible();
  if (await fresh.isVisible()) {
    await fresh.click();
    await expect(page.getByTestId("config-new")).toBeVisible();
    await expect(page.getByTestId("config-editor")).toHaveValue("{}");
  } else {
    await row.click();
  }
  await expect(page).toHaveURL(/\/config\?doc=flags\/control$/);
  await expect(page.getByTestId("config-editor")).toBeVisible();
  await unpinIfPinned(page, "e2e: start from an unpinned document");

  // A baseline without the banner, so there is a revision to roll back to.
  await apply(page, '{\n  "freeze": false\n}', "e2e: flags baseline");
  await openDoc(page, FLAGS);
  const baseline = Number(await page.getByTestId("config-revision").textContent());

  await apply(page, '{\n  "banner": "e2e maintenance",\n  "freeze": false\n}', "e2e: flags banner");
  await openDoc(page, FLAGS);
  // Revisions grow; a KV source may skip numbers, so only their order is checked.
  const banner = Number(await page.getByTestId("config-revision").textContent());
  expect(banner).toBeGreaterThan(baseline);
  const newest = page.getByTestId("config-history").locator(`tr[data-revision='${banner}']`);
  await expect(newest).toContainText("e2e: flags banner");
  await expect(newest.getByRole("link")).toHaveAttribute("href", /\/jobs\/job_[0-9a-f]{32}$/);
  // Default diff: the previous kept revision against the current one.
  const diff = page.getByTestId("config-diff");
  await expect(diff.locator("tr[data-tag='insert']")).toContainText("e2e maintenance");
  await expect(page.getByTestId("config-diff-summary")).toContainText("1 JSON Patch operation");
  await expect(page.getByTestId("config-document")).toContainText("e2e maintenance");
  // The control plane reads its flags live: every page shows the banner.
  await page.goto("/jobs");
  await hydrated(page);
  await expect(page.getByTestId("flags-banner")).toContainText("e2e maintenance");
  await openDoc(page, FLAGS);

  // Roll back to the baseline: planned, confirmed with a reason, pinned.
  await expect(page.getByTestId("config-rollback-target")).toHaveValue(String(baseline));
  await page.getByTestId("config-rollback").click();
  const plan = page.locator("#config-rollback-dialog [data-testid='plan']");
  await expect(plan).toHaveAttribute("data-blocked", "false");
  await expect(page.locator("#config-rollback-dialog [data-testid='plan-diff'] tr[data-tag='delete']")).toContainText("e2e maintenance");
  await expect(plan.getByTestId("plan-steps").locator("tr[data-step='pin']")).toBeVisible();
  await page.getByTestId("reason-input").fill("e2e: back to the baseline");
  await page.getByTestId("confirm-button").click();
  await jobSucceeds(page);

  await openDoc(page, FLAGS);
  const pinned = page.locator("[data-testid='config-pinned'][data-pinned='true']");
  await expect(pinned).toBeVisible();
  await expect(pinned.getByTestId("pinned-badge")).toHaveText("pinned");
  await expect(page.getByTestId("config-document")).not.toContainText("e2e maintenance");
  expect(Number(await page.getByTestId("config-revision").textContent())).toBeGreaterThan(banner);
  await expect(page.getByTestId("config-history").locator("tr").filter({ hasText: "e2e: back to the baseline" }).first()).toBeVisible();

  // A pinned document refuses applies: the plan says so.
  await page.getByTestId("config-editor").fill('{\n  "banner": "refused"\n}');
  await page.getByTestId("config-plan").click();
  const refused = page.getByTestId("config-plan-result");
  await expect(refused.getByTestId("plan")).toHaveAttribute("data-blocked", "true");
  await expect(refused.locator("tr[data-gate='gate_not_pinned']")).toHaveAttribute("data-pass", "false");
  await expect(page.getByTestId("config-apply")).toBeDisabled();

  // Unpin (audited, with a reason): applies are allowed again.
  await unpinIfPinned(page, "e2e: done with the rollback");
  await expect(page.getByTestId("config-editor")).toBeVisible();
  void problems;
});

test("the definitions page lists definitions or says there are none", async ({ page, problems }) => {
  await page.goto("/definitions");
  await hydrated(page);
  await expect(page.locator("h1")).toHaveText("Definitions");
  await expect(page.getByTestId("definitions-table").or(page.getByTestId("definitions-empty"))).toBeVisible();
  await expect(page.getByTestId("activation-scope")).toHaveValue("platform");
  void problems;
});
