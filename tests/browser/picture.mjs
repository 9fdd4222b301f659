// Opens a picture the gateway serves in Debian's Chromium, as a page of its own (the way a
// counsellor opens the link) and drawn onto a canvas from a page of the same origin, and prints
// {"width", "height", "texts": [the SVG's texts], "colours": <distinct colours drawn>,
//  "inked": <share of pixels that are not white>}; with a third argument, saves a screenshot.
// Usage: node picture.mjs <origin> <picture url> [screenshot.png]
import { chromium } from "playwright-core";

const [origin, url, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.IMIND_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  const response = await page.goto(url, { waitUntil: "load" });
  if (!response.ok()) throw new Error(`${url}: ${response.status()}`);
  const texts = await page.evaluate(() => [...document.querySelectorAll("text")].map((text) => text.textContent));
  if (screenshot) await page.screenshot({ path: screenshot });
  await page.goto(origin + "/healthz", { waitUntil: "load" });
  const drawn = await page.evaluate(async (url) => {
    const image = new Image();
    image.src = url;
    await image.decode();
    const canvas = document.createElement("canvas");
    [canvas.width, canvas.height] = [image.naturalWidth, image.naturalHeight];
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = new Set();
    let inked = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      const [r, g, b] = [pixels[i], pixels[i + 1], pixels[i + 2]];
      colours.add((r << 16) | (g << 8) | b);
      if (r < 250 || g < 250 || b < 250) inked += 1;
    }
    return { width: canvas.width, height: canvas.height, colours: colours.size, inked: inked / (pixels.length / 4) };
  }, url);
  console.log(JSON.stringify({ ...drawn, texts }));
} finally {
  await browser.close();
}
