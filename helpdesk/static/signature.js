/* Signing pad for intervention reports: draw with a finger, pen or mouse (pointer events) on the
   canvas; on submit the drawing goes into the hidden "signature" field as a PNG data URL.
   No library, no inline script (the pages have a strict Content-Security-Policy). */
(function () {
  "use strict";
  var canvas = document.getElementById("signature-pad");
  var field = document.getElementById("signature-data");
  var form = document.getElementById("sign-form");
  var clear = document.getElementById("signature-clear");
  if (!canvas || !field || !form) { return; }

  var ctx = canvas.getContext("2d");
  var drawing = false;
  var last = null;
  var inked = false;

  function setUp() {
    ctx.lineWidth = 3;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#10204a";
  }

  function point(event) {
    var box = canvas.getBoundingClientRect();
    return {
      x: (event.clientX - box.left) * (canvas.width / box.width),
      y: (event.clientY - box.top) * (canvas.height / box.height)
    };
  }

  canvas.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    drawing = true;
    last = point(event);
    ctx.beginPath();
    ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, Math.PI * 2);
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fill();
    inked = true;
    canvas.classList.remove("iv-pad-empty");
  });

  canvas.addEventListener("pointermove", function (event) {
    if (!drawing) { return; }
    event.preventDefault();
    var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (var i = 0; i < events.length; i++) {
      var next = point(events[i]);
      ctx.beginPath();
      ctx.moveTo(last.x, last.y);
      ctx.lineTo(next.x, next.y);
      ctx.stroke();
      last = next;
    }
  });

  function stop(event) {
    if (!drawing) { return; }
    drawing = false;
    if (canvas.hasPointerCapture(event.pointerId)) { canvas.releasePointerCapture(event.pointerId); }
  }
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);

  if (clear) {
    clear.addEventListener("click", function () {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      inked = false;
      field.value = "";
    });
  }

  form.addEventListener("submit", function (event) {
    if (!inked) {
      event.preventDefault();
      canvas.classList.add("iv-pad-empty");
      return;
    }
    field.value = canvas.toDataURL("image/png");
  });

  setUp();
})();
