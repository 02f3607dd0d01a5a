export default (i) => i;
