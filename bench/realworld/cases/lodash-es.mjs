// A report over order records with lodash-es: group, sum, sort, dedupe, pick, chunk, deep clone and compare.
import { chunk, cloneDeep, groupBy, isEqual, mapValues, orderBy, pick, sumBy, uniqBy, countBy, sortBy } from "lodash-es";

export function run(input) {
  const orders = input.orders;
  const copy = cloneDeep(orders);
  const byRegion = mapValues(groupBy(copy, "region"), (list) => ({
    n: list.length,
    total: Math.round(sumBy(list, (o) => o.qty * o.price) * 100) / 100,
    top: orderBy(list, ["qty", "id"], ["desc", "asc"]).slice(0, 3).map((o) => pick(o, ["id", "sku", "qty"])),
  }));
  const customers = sortBy(uniqBy(copy, "customer").map((o) => o.customer));
  const tags = countBy(copy.flatMap((o) => o.tags));
  const pages = chunk(copy, 50).length;
  return JSON.stringify({ byRegion, customers: customers.length, first: customers.slice(0, 5), tags, pages, same: isEqual(copy, orders) });
}
