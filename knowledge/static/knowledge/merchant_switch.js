/* The merchant picker of the knowledge admin pages submits itself on change. A file, not an
   onchange attribute: the Content-Security-Policy runs no inline handler. */
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
});
