// markdown → HTML (CommonMark, with tables and linkify off).
import MarkdownIt from "markdown-it";

const md = new MarkdownIt();
export const run = (input) => md.render(input.text);
