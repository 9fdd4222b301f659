// Opens the gateway's playground in Debian's Chromium with every host but loopback unresolvable,
// runs one operation the way a person would (typed into the editor and the headers tab, run
// with the button) and prints {"result": <the result pane, parsed>, "docs": <the documentation
// explorer's text>, "requests": [urls], "errors": [console errors]}.
// Usage: node playground.mjs <base url> <query> <headers as JSON>
import { chromium } from "playwright-core";

const [base, query, headers] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.IMIND_CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // A CDN (or anything else) would be unreachable, as on a clinic network without internet.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
  ],
});
try {
  const page = await browser.newPage();
  const requests = [];
  const errors = [];
  page.on("request", (request) => requests.push(request.url()));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(base + "/", { waitUntil: "load" });
  await page.waitForSelector(".graphiql-query-editor .monaco-editor", { timeout: 30000 });
  // Replaces what an editor holds, as a person pasting into it would.
  const fill = async (editor, text) => {
    await page.locator(editor).first().click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.insertText(text);
  };
  await fill(".graphiql-query-editor .monaco-editor", query);
  await page.getByRole("button", { name: "Headers" }).click();
  await fill(".graphiql-editor-tool .graphiql-editor:not(.hidden) .monaco-editor", headers);
  await page.click(".graphiql-execute-button");
  const result = await page.waitForFunction(
    () => {
      const text = (document.querySelector(".result-window .view-lines")?.innerText ?? "").replace(/\u00a0/g, " ");
      try {
        return JSON.stringify(JSON.parse(text));
      } catch {
        return false;
      }
    },
    null,
    { timeout: 30000 },
  );
  // The schema's documentation, as a reader opens it from the sidebar.
  await page.getByRole("button", { name: "Show Documentation Explorer" }).click();
  await page.waitForFunction(() => document.querySelector(".graphiql-doc-explorer")?.innerText.includes("Query"), null, {
    timeout: 30000,
  });
  const docs = await page.locator(".graphiql-doc-explorer").innerText();
  console.log(JSON.stringify({ result: JSON.parse(await result.jsonValue()), docs, requests, errors }));
} finally {
  await browser.close();
}
