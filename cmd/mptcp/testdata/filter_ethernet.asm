(000) ldh      [12]
(001) ldx      #0xe
(002) jeq      #0x800           jt 20	jf 3
(003) jeq      #0x86dd          jt 34	jf 4
(004) jeq      #0x8100          jt 7	jf 5
(005) jeq      #0x88a8          jt 7	jf 6
(006) jeq      #0x9100          jt 7	jf 18
(007) ldh      [16]
(008) ldx      #0x12
(009) jeq      #0x800           jt 20	jf 10
(010) jeq      #0x86dd          jt 34	jf 11
(011) jeq      #0x8100          jt 14	jf 12
(012) jeq      #0x88a8          jt 14	jf 13
(013) jeq      #0x9100          jt 14	jf 18
(014) ldh      [20]
(015) ldx      #0x16
(016) jeq      #0x800           jt 20	jf 17
(017) jeq      #0x86dd          jt 34	jf 18
(018) ret      #0
(019) ret      #262144
(020) ldb      [x + 0]
(021) and      #0xf0
(022) jeq      #0x40            jt 23	jf 132
(023) ldb      [x + 9]
(024) jeq      #0x6             jt 25	jf 132
(025) ldh      [x + 6]
(026) jset     #0x1fff          jt 132	jf 27
(027) ldb      [x + 0]
(028) and      #0xf
(029) lsh      #2
(030) jge      #0x14            jt 31	jf 132
(031) add      x
(032) tax
(033) ja       134
(034) ldb      [x + 0]
(035) and      #0xf0
(036) jeq      #0x60            jt 37	jf 132
(037) ldb      [x + 6]
(038) st       M[2]
(039) txa
(040) add      #0x28
(041) tax
(042) ld       M[2]
(043) jeq      #0x6             jt 134	jf 44
(044) jeq      #0x2c            jt 57	jf 45
(045) jeq      #0x0             jt 48	jf 46
(046) jeq      #0x2b            jt 48	jf 47
(047) jeq      #0x3c            jt 48	jf 132
(048) ldb      [x + 0]
(049) st       M[2]
(050) ldb      [x + 1]
(051) add      #0x1
(052) lsh      #3
(053) add      x
(054) tax
(055) ld       M[2]
(056) ja       65
(057) ldh      [x + 2]
(058) jset     #0xfff8          jt 132	jf 59
(059) ldb      [x + 0]
(060) st       M[2]
(061) txa
(062) add      #0x8
(063) tax
(064) ld       M[2]
(065) jeq      #0x6             jt 134	jf 66
(066) jeq      #0x2c            jt 79	jf 67
(067) jeq      #0x0             jt 70	jf 68
(068) jeq      #0x2b            jt 70	jf 69
(069) jeq      #0x3c            jt 70	jf 132
(070) ldb      [x + 0]
(071) st       M[2]
(072) ldb      [x + 1]
(073) add      #0x1
(074) lsh      #3
(075) add      x
(076) tax
(077) ld       M[2]
(078) ja       87
(079) ldh      [x + 2]
(080) jset     #0xfff8          jt 132	jf 81
(081) ldb      [x + 0]
(082) st       M[2]
(083) txa
(084) add      #0x8
(085) tax
(086) ld       M[2]
(087) jeq      #0x6             jt 134	jf 88
(088) jeq      #0x2c            jt 101	jf 89
(089) jeq      #0x0             jt 92	jf 90
(090) jeq      #0x2b            jt 92	jf 91
(091) jeq      #0x3c            jt 92	jf 132
(092) ldb      [x + 0]
(093) st       M[2]
(094) ldb      [x + 1]
(095) add      #0x1
(096) lsh      #3
(097) add      x
(098) tax
(099) ld       M[2]
(100) ja       109
(101) ldh      [x + 2]
(102) jset     #0xfff8          jt 132	jf 103
(103) ldb      [x + 0]
(104) st       M[2]
(105) txa
(106) add      #0x8
(107) tax
(108) ld       M[2]
(109) jeq      #0x6             jt 134	jf 110
(110) jeq      #0x2c            jt 123	jf 111
(111) jeq      #0x0             jt 114	jf 112
(112) jeq      #0x2b            jt 114	jf 113
(113) jeq      #0x3c            jt 114	jf 132
(114) ldb      [x + 0]
(115) st       M[2]
(116) ldb      [x + 1]
(117) add      #0x1
(118) lsh      #3
(119) add      x
(120) tax
(121) ld       M[2]
(122) ja       131
(123) ldh      [x + 2]
(124) jset     #0xfff8          jt 132	jf 125
(125) ldb      [x + 0]
(126) st       M[2]
(127) txa
(128) add      #0x8
(129) tax
(130) ld       M[2]
(131) jeq      #0x6             jt 134	jf 132
(132) ret      #0
(133) ret      #262144
(134) ldb      [x + 13]
(135) jset     #0x7             jt 213	jf 136
(136) ldb      [x + 12]
(137) and      #0xf0
(138) rsh      #2
(139) jgt      #0x14            jt 140	jf 212
(140) add      x
(141) st       M[0]
(142) sub      #0x1
(143) st       M[1]
(144) txa
(145) add      #0x14
(146) tax
(147) ld       M[0]
(148) jgt      x                jt 149	jf 212
(149) ldb      [x + 0]
(150) jeq      #0x1e            jt 213	jf 151
(151) jeq      #0x1             jt 152	jf 156
(152) txa
(153) add      #0x1
(154) tax
(155) ja       163
(156) jeq      #0x0             jt 212	jf 157
(157) ld       M[1]
(158) jgt      x                jt 159	jf 212
(159) ldb      [x + 1]
(160) jge      #0x2             jt 161	jf 212
(161) add      x
(162) tax
(163) ld       M[0]
(164) jgt      x                jt 165	jf 212
(165) ldb      [x + 0]
(166) jeq      #0x1e            jt 213	jf 167
(167) jeq      #0x1             jt 168	jf 172
(168) txa
(169) add      #0x1
(170) tax
(171) ja       179
(172) jeq      #0x0             jt 212	jf 173
(173) ld       M[1]
(174) jgt      x                jt 175	jf 212
(175) ldb      [x + 1]
(176) jge      #0x2             jt 177	jf 212
(177) add      x
(178) tax
(179) ld       M[0]
(180) jgt      x                jt 181	jf 212
(181) ldb      [x + 0]
(182) jeq      #0x1e            jt 213	jf 183
(183) jeq      #0x1             jt 184	jf 188
(184) txa
(185) add      #0x1
(186) tax
(187) ja       195
(188) jeq      #0x0             jt 212	jf 189
(189) ld       M[1]
(190) jgt      x                jt 191	jf 212
(191) ldb      [x + 1]
(192) jge      #0x2             jt 193	jf 212
(193) add      x
(194) tax
(195) ld       M[0]
(196) jgt      x                jt 197	jf 212
(197) ldb      [x + 0]
(198) jeq      #0x1e            jt 213	jf 199
(199) jeq      #0x1             jt 200	jf 204
(200) txa
(201) add      #0x1
(202) tax
(203) ja       211
(204) jeq      #0x0             jt 212	jf 205
(205) ld       M[1]
(206) jgt      x                jt 207	jf 212
(207) ldb      [x + 1]
(208) jge      #0x2             jt 209	jf 212
(209) add      x
(210) tax
(211) ja       214
(212) ret      #0
(213) ret      #262144
(214) ld       M[0]
(215) jgt      x                jt 216	jf 279
(216) ldb      [x + 0]
(217) jeq      #0x1e            jt 280	jf 218
(218) jeq      #0x1             jt 219	jf 223
(219) txa
(220) add      #0x1
(221) tax
(222) ja       230
(223) jeq      #0x0             jt 279	jf 224
(224) ld       M[1]
(225) jgt      x                jt 226	jf 279
(226) ldb      [x + 1]
(227) jge      #0x2             jt 228	jf 279
(228) add      x
(229) tax
(230) ld       M[0]
(231) jgt      x                jt 232	jf 279
(232) ldb      [x + 0]
(233) jeq      #0x1e            jt 280	jf 234
(234) jeq      #0x1             jt 235	jf 239
(235) txa
(236) add      #0x1
(237) tax
(238) ja       246
(239) jeq      #0x0             jt 279	jf 240
(240) ld       M[1]
(241) jgt      x                jt 242	jf 279
(242) ldb      [x + 1]
(243) jge      #0x2             jt 244	jf 279
(244) add      x
(245) tax
(246) ld       M[0]
(247) jgt      x                jt 248	jf 279
(248) ldb      [x + 0]
(249) jeq      #0x1e            jt 280	jf 250
(250) jeq      #0x1             jt 251	jf 255
(251) txa
(252) add      #0x1
(253) tax
(254) ja       262
(255) jeq      #0x0             jt 279	jf 256
(256) ld       M[1]
(257) jgt      x                jt 258	jf 279
(258) ldb      [x + 1]
(259) jge      #0x2             jt 260	jf 279
(260) add      x
(261) tax
(262) ld       M[0]
(263) jgt      x                jt 264	jf 279
(264) ldb      [x + 0]
(265) jeq      #0x1e            jt 280	jf 266
(266) jeq      #0x1             jt 267	jf 271
(267) txa
(268) add      #0x1
(269) tax
(270) ja       278
(271) jeq      #0x0             jt 279	jf 272
(272) ld       M[1]
(273) jgt      x                jt 274	jf 279
(274) ldb      [x + 1]
(275) jge      #0x2             jt 276	jf 279
(276) add      x
(277) tax
(278) ja       281
(279) ret      #0
(280) ret      #262144
(281) ld       M[0]
(282) jgt      x                jt 283	jf 346
(283) ldb      [x + 0]
(284) jeq      #0x1e            jt 347	jf 285
(285) jeq      #0x1             jt 286	jf 290
(286) txa
(287) add      #0x1
(288) tax
(289) ja       297
(290) jeq      #0x0             jt 346	jf 291
(291) ld       M[1]
(292) jgt      x                jt 293	jf 346
(293) ldb      [x + 1]
(294) jge      #0x2             jt 295	jf 346
(295) add      x
(296) tax
(297) ld       M[0]
(298) jgt      x                jt 299	jf 346
(299) ldb      [x + 0]
(300) jeq      #0x1e            jt 347	jf 301
(301) jeq      #0x1             jt 302	jf 306
(302) txa
(303) add      #0x1
(304) tax
(305) ja       313
(306) jeq      #0x0             jt 346	jf 307
(307) ld       M[1]
(308) jgt      x                jt 309	jf 346
(309) ldb      [x + 1]
(310) jge      #0x2             jt 311	jf 346
(311) add      x
(312) tax
(313) ld       M[0]
(314) jgt      x                jt 315	jf 346
(315) ldb      [x + 0]
(316) jeq      #0x1e            jt 347	jf 317
(317) jeq      #0x1             jt 318	jf 322
(318) txa
(319) add      #0x1
(320) tax
(321) ja       329
(322) jeq      #0x0             jt 346	jf 323
(323) ld       M[1]
(324) jgt      x                jt 325	jf 346
(325) ldb      [x + 1]
(326) jge      #0x2             jt 327	jf 346
(327) add      x
(328) tax
(329) ld       M[0]
(330) jgt      x                jt 331	jf 346
(331) ldb      [x + 0]
(332) jeq      #0x1e            jt 347	jf 333
(333) jeq      #0x1             jt 334	jf 338
(334) txa
(335) add      #0x1
(336) tax
(337) ja       345
(338) jeq      #0x0             jt 346	jf 339
(339) ld       M[1]
(340) jgt      x                jt 341	jf 346
(341) ldb      [x + 1]
(342) jge      #0x2             jt 343	jf 346
(343) add      x
(344) tax
(345) ja       348
(346) ret      #0
(347) ret      #262144
(348) ld       M[0]
(349) jgt      x                jt 350	jf 413
(350) ldb      [x + 0]
(351) jeq      #0x1e            jt 414	jf 352
(352) jeq      #0x1             jt 353	jf 357
(353) txa
(354) add      #0x1
(355) tax
(356) ja       364
(357) jeq      #0x0             jt 413	jf 358
(358) ld       M[1]
(359) jgt      x                jt 360	jf 413
(360) ldb      [x + 1]
(361) jge      #0x2             jt 362	jf 413
(362) add      x
(363) tax
(364) ld       M[0]
(365) jgt      x                jt 366	jf 413
(366) ldb      [x + 0]
(367) jeq      #0x1e            jt 414	jf 368
(368) jeq      #0x1             jt 369	jf 373
(369) txa
(370) add      #0x1
(371) tax
(372) ja       380
(373) jeq      #0x0             jt 413	jf 374
(374) ld       M[1]
(375) jgt      x                jt 376	jf 413
(376) ldb      [x + 1]
(377) jge      #0x2             jt 378	jf 413
(378) add      x
(379) tax
(380) ld       M[0]
(381) jgt      x                jt 382	jf 413
(382) ldb      [x + 0]
(383) jeq      #0x1e            jt 414	jf 384
(384) jeq      #0x1             jt 385	jf 389
(385) txa
(386) add      #0x1
(387) tax
(388) ja       396
(389) jeq      #0x0             jt 413	jf 390
(390) ld       M[1]
(391) jgt      x                jt 392	jf 413
(392) ldb      [x + 1]
(393) jge      #0x2             jt 394	jf 413
(394) add      x
(395) tax
(396) ld       M[0]
(397) jgt      x                jt 398	jf 413
(398) ldb      [x + 0]
(399) jeq      #0x1e            jt 414	jf 400
(400) jeq      #0x1             jt 401	jf 405
(401) txa
(402) add      #0x1
(403) tax
(404) ja       412
(405) jeq      #0x0             jt 413	jf 406
(406) ld       M[1]
(407) jgt      x                jt 408	jf 413
(408) ldb      [x + 1]
(409) jge      #0x2             jt 410	jf 413
(410) add      x
(411) tax
(412) ja       415
(413) ret      #0
(414) ret      #262144
(415) ld       M[0]
(416) jgt      x                jt 417	jf 480
(417) ldb      [x + 0]
(418) jeq      #0x1e            jt 481	jf 419
(419) jeq      #0x1             jt 420	jf 424
(420) txa
(421) add      #0x1
(422) tax
(423) ja       431
(424) jeq      #0x0             jt 480	jf 425
(425) ld       M[1]
(426) jgt      x                jt 427	jf 480
(427) ldb      [x + 1]
(428) jge      #0x2             jt 429	jf 480
(429) add      x
(430) tax
(431) ld       M[0]
(432) jgt      x                jt 433	jf 480
(433) ldb      [x + 0]
(434) jeq      #0x1e            jt 481	jf 435
(435) jeq      #0x1             jt 436	jf 440
(436) txa
(437) add      #0x1
(438) tax
(439) ja       447
(440) jeq      #0x0             jt 480	jf 441
(441) ld       M[1]
(442) jgt      x                jt 443	jf 480
(443) ldb      [x + 1]
(444) jge      #0x2             jt 445	jf 480
(445) add      x
(446) tax
(447) ld       M[0]
(448) jgt      x                jt 449	jf 480
(449) ldb      [x + 0]
(450) jeq      #0x1e            jt 481	jf 451
(451) jeq      #0x1             jt 452	jf 456
(452) txa
(453) add      #0x1
(454) tax
(455) ja       463
(456) jeq      #0x0             jt 480	jf 457
(457) ld       M[1]
(458) jgt      x                jt 459	jf 480
(459) ldb      [x + 1]
(460) jge      #0x2             jt 461	jf 480
(461) add      x
(462) tax
(463) ld       M[0]
(464) jgt      x                jt 465	jf 480
(465) ldb      [x + 0]
(466) jeq      #0x1e            jt 481	jf 467
(467) jeq      #0x1             jt 468	jf 472
(468) txa
(469) add      #0x1
(470) tax
(471) ja       479
(472) jeq      #0x0             jt 480	jf 473
(473) ld       M[1]
(474) jgt      x                jt 475	jf 480
(475) ldb      [x + 1]
(476) jge      #0x2             jt 477	jf 480
(477) add      x
(478) tax
(479) ja       482
(480) ret      #0
(481) ret      #262144
(482) ld       M[0]
(483) jgt      x                jt 484	jf 547
(484) ldb      [x + 0]
(485) jeq      #0x1e            jt 548	jf 486
(486) jeq      #0x1             jt 487	jf 491
(487) txa
(488) add      #0x1
(489) tax
(490) ja       498
(491) jeq      #0x0             jt 547	jf 492
(492) ld       M[1]
(493) jgt      x                jt 494	jf 547
(494) ldb      [x + 1]
(495) jge      #0x2             jt 496	jf 547
(496) add      x
(497) tax
(498) ld       M[0]
(499) jgt      x                jt 500	jf 547
(500) ldb      [x + 0]
(501) jeq      #0x1e            jt 548	jf 502
(502) jeq      #0x1             jt 503	jf 507
(503) txa
(504) add      #0x1
(505) tax
(506) ja       514
(507) jeq      #0x0             jt 547	jf 508
(508) ld       M[1]
(509) jgt      x                jt 510	jf 547
(510) ldb      [x + 1]
(511) jge      #0x2             jt 512	jf 547
(512) add      x
(513) tax
(514) ld       M[0]
(515) jgt      x                jt 516	jf 547
(516) ldb      [x + 0]
(517) jeq      #0x1e            jt 548	jf 518
(518) jeq      #0x1             jt 519	jf 523
(519) txa
(520) add      #0x1
(521) tax
(522) ja       530
(523) jeq      #0x0             jt 547	jf 524
(524) ld       M[1]
(525) jgt      x                jt 526	jf 547
(526) ldb      [x + 1]
(527) jge      #0x2             jt 528	jf 547
(528) add      x
(529) tax
(530) ld       M[0]
(531) jgt      x                jt 532	jf 547
(532) ldb      [x + 0]
(533) jeq      #0x1e            jt 548	jf 534
(534) jeq      #0x1             jt 535	jf 539
(535) txa
(536) add      #0x1
(537) tax
(538) ja       546
(539) jeq      #0x0             jt 547	jf 540
(540) ld       M[1]
(541) jgt      x                jt 542	jf 547
(542) ldb      [x + 1]
(543) jge      #0x2             jt 544	jf 547
(544) add      x
(545) tax
(546) ja       549
(547) ret      #0
(548) ret      #262144
(549) ld       M[0]
(550) jgt      x                jt 551	jf 614
(551) ldb      [x + 0]
(552) jeq      #0x1e            jt 615	jf 553
(553) jeq      #0x1             jt 554	jf 558
(554) txa
(555) add      #0x1
(556) tax
(557) ja       565
(558) jeq      #0x0             jt 614	jf 559
(559) ld       M[1]
(560) jgt      x                jt 561	jf 614
(561) ldb      [x + 1]
(562) jge      #0x2             jt 563	jf 614
(563) add      x
(564) tax
(565) ld       M[0]
(566) jgt      x                jt 567	jf 614
(567) ldb      [x + 0]
(568) jeq      #0x1e            jt 615	jf 569
(569) jeq      #0x1             jt 570	jf 574
(570) txa
(571) add      #0x1
(572) tax
(573) ja       581
(574) jeq      #0x0             jt 614	jf 575
(575) ld       M[1]
(576) jgt      x                jt 577	jf 614
(577) ldb      [x + 1]
(578) jge      #0x2             jt 579	jf 614
(579) add      x
(580) tax
(581) ld       M[0]
(582) jgt      x                jt 583	jf 614
(583) ldb      [x + 0]
(584) jeq      #0x1e            jt 615	jf 585
(585) jeq      #0x1             jt 586	jf 590
(586) txa
(587) add      #0x1
(588) tax
(589) ja       597
(590) jeq      #0x0             jt 614	jf 591
(591) ld       M[1]
(592) jgt      x                jt 593	jf 614
(593) ldb      [x + 1]
(594) jge      #0x2             jt 595	jf 614
(595) add      x
(596) tax
(597) ld       M[0]
(598) jgt      x                jt 599	jf 614
(599) ldb      [x + 0]
(600) jeq      #0x1e            jt 615	jf 601
(601) jeq      #0x1             jt 602	jf 606
(602) txa
(603) add      #0x1
(604) tax
(605) ja       613
(606) jeq      #0x0             jt 614	jf 607
(607) ld       M[1]
(608) jgt      x                jt 609	jf 614
(609) ldb      [x + 1]
(610) jge      #0x2             jt 611	jf 614
(611) add      x
(612) tax
(613) ja       616
(614) ret      #0
(615) ret      #262144
(616) ld       M[0]
(617) jgt      x                jt 618	jf 681
(618) ldb      [x + 0]
(619) jeq      #0x1e            jt 682	jf 620
(620) jeq      #0x1             jt 621	jf 625
(621) txa
(622) add      #0x1
(623) tax
(624) ja       632
(625) jeq      #0x0             jt 681	jf 626
(626) ld       M[1]
(627) jgt      x                jt 628	jf 681
(628) ldb      [x + 1]
(629) jge      #0x2             jt 630	jf 681
(630) add      x
(631) tax
(632) ld       M[0]
(633) jgt      x                jt 634	jf 681
(634) ldb      [x + 0]
(635) jeq      #0x1e            jt 682	jf 636
(636) jeq      #0x1             jt 637	jf 641
(637) txa
(638) add      #0x1
(639) tax
(640) ja       648
(641) jeq      #0x0             jt 681	jf 642
(642) ld       M[1]
(643) jgt      x                jt 644	jf 681
(644) ldb      [x + 1]
(645) jge      #0x2             jt 646	jf 681
(646) add      x
(647) tax
(648) ld       M[0]
(649) jgt      x                jt 650	jf 681
(650) ldb      [x + 0]
(651) jeq      #0x1e            jt 682	jf 652
(652) jeq      #0x1             jt 653	jf 657
(653) txa
(654) add      #0x1
(655) tax
(656) ja       664
(657) jeq      #0x0             jt 681	jf 658
(658) ld       M[1]
(659) jgt      x                jt 660	jf 681
(660) ldb      [x + 1]
(661) jge      #0x2             jt 662	jf 681
(662) add      x
(663) tax
(664) ld       M[0]
(665) jgt      x                jt 666	jf 681
(666) ldb      [x + 0]
(667) jeq      #0x1e            jt 682	jf 668
(668) jeq      #0x1             jt 669	jf 673
(669) txa
(670) add      #0x1
(671) tax
(672) ja       680
(673) jeq      #0x0             jt 681	jf 674
(674) ld       M[1]
(675) jgt      x                jt 676	jf 681
(676) ldb      [x + 1]
(677) jge      #0x2             jt 678	jf 681
(678) add      x
(679) tax
(680) ja       683
(681) ret      #0
(682) ret      #262144
(683) ld       M[0]
(684) jgt      x                jt 685	jf 748
(685) ldb      [x + 0]
(686) jeq      #0x1e            jt 749	jf 687
(687) jeq      #0x1             jt 688	jf 692
(688) txa
(689) add      #0x1
(690) tax
(691) ja       699
(692) jeq      #0x0             jt 748	jf 693
(693) ld       M[1]
(694) jgt      x                jt 695	jf 748
(695) ldb      [x + 1]
(696) jge      #0x2             jt 697	jf 748
(697) add      x
(698) tax
(699) ld       M[0]
(700) jgt      x                jt 701	jf 748
(701) ldb      [x + 0]
(702) jeq      #0x1e            jt 749	jf 703
(703) jeq      #0x1             jt 704	jf 708
(704) txa
(705) add      #0x1
(706) tax
(707) ja       715
(708) jeq      #0x0             jt 748	jf 709
(709) ld       M[1]
(710) jgt      x                jt 711	jf 748
(711) ldb      [x + 1]
(712) jge      #0x2             jt 713	jf 748
(713) add      x
(714) tax
(715) ld       M[0]
(716) jgt      x                jt 717	jf 748
(717) ldb      [x + 0]
(718) jeq      #0x1e            jt 749	jf 719
(719) jeq      #0x1             jt 720	jf 724
(720) txa
(721) add      #0x1
(722) tax
(723) ja       731
(724) jeq      #0x0             jt 748	jf 725
(725) ld       M[1]
(726) jgt      x                jt 727	jf 748
(727) ldb      [x + 1]
(728) jge      #0x2             jt 729	jf 748
(729) add      x
(730) tax
(731) ld       M[0]
(732) jgt      x                jt 733	jf 748
(733) ldb      [x + 0]
(734) jeq      #0x1e            jt 749	jf 735
(735) jeq      #0x1             jt 736	jf 740
(736) txa
(737) add      #0x1
(738) tax
(739) ja       747
(740) jeq      #0x0             jt 748	jf 741
(741) ld       M[1]
(742) jgt      x                jt 743	jf 748
(743) ldb      [x + 1]
(744) jge      #0x2             jt 745	jf 748
(745) add      x
(746) tax
(747) ja       750
(748) ret      #0
(749) ret      #262144
(750) ld       M[0]
(751) jgt      x                jt 752	jf 814
(752) ldb      [x + 0]
(753) jeq      #0x1e            jt 815	jf 754
(754) jeq      #0x1             jt 755	jf 759
(755) txa
(756) add      #0x1
(757) tax
(758) ja       766
(759) jeq      #0x0             jt 814	jf 760
(760) ld       M[1]
(761) jgt      x                jt 762	jf 814
(762) ldb      [x + 1]
(763) jge      #0x2             jt 764	jf 814
(764) add      x
(765) tax
(766) ld       M[0]
(767) jgt      x                jt 768	jf 814
(768) ldb      [x + 0]
(769) jeq      #0x1e            jt 815	jf 770
(770) jeq      #0x1             jt 771	jf 775
(771) txa
(772) add      #0x1
(773) tax
(774) ja       782
(775) jeq      #0x0             jt 814	jf 776
(776) ld       M[1]
(777) jgt      x                jt 778	jf 814
(778) ldb      [x + 1]
(779) jge      #0x2             jt 780	jf 814
(780) add      x
(781) tax
(782) ld       M[0]
(783) jgt      x                jt 784	jf 814
(784) ldb      [x + 0]
(785) jeq      #0x1e            jt 815	jf 786
(786) jeq      #0x1             jt 787	jf 791
(787) txa
(788) add      #0x1
(789) tax
(790) ja       798
(791) jeq      #0x0             jt 814	jf 792
(792) ld       M[1]
(793) jgt      x                jt 794	jf 814
(794) ldb      [x + 1]
(795) jge      #0x2             jt 796	jf 814
(796) add      x
(797) tax
(798) ld       M[0]
(799) jgt      x                jt 800	jf 814
(800) ldb      [x + 0]
(801) jeq      #0x1e            jt 815	jf 802
(802) jeq      #0x1             jt 803	jf 807
(803) txa
(804) add      #0x1
(805) tax
(806) ja       814
(807) jeq      #0x0             jt 814	jf 808
(808) ld       M[1]
(809) jgt      x                jt 810	jf 814
(810) ldb      [x + 1]
(811) jge      #0x2             jt 812	jf 814
(812) add      x
(813) tax
(814) ret      #0
(815) ret      #262144
